"""`winback backtest --cutoff --horizon-days`: the service's answer as a table or as JSON."""

import json

import pytest

from tests.ops.test_cli import cli_on


def test_backtest_command(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with cli_on(database_url, monkeypatch, capsys) as run:
        out = run("backtest", "--cutoff", "2025-06-30", "--horizon-days", "90")
        assert out.startswith("backtest at 2025-06-30T23:59:59+00:00, horizon 90 days")
        assert "AUC (no order within the horizon)" in out
        found = json.loads(
            run("backtest", "--cutoff", "2025-06-30", "--horizon-days", "90", "--json")
        )
        assert found["horizon_days"] == 90 and found["clients"] >= 0
        with pytest.raises(SystemExit) as exit_:
            run("backtest", "--cutoff", "2999-01-01T00:00:00Z", "--horizon-days", "1")
        assert "future" in str(exit_.value.code)
        with pytest.raises(SystemExit):
            run("backtest", "--cutoff", "2025-06-30T00:00:00", "--horizon-days", "1")
