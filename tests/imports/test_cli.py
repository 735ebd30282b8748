"""`winback import FILE` as an operator runs it (in-process, WINBACK_DATABASE_URL on the test
database): exit status 0 and a summary on success, a clear message and a non-zero status when
the file is missing or is none of the formats."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.cli import main
from app.config import get_settings
from tests.imports.files import shopify_order, write_csv, write_shopify
from tests.imports.helpers import count, stored_state


@pytest.fixture
def on_test_database(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("WINBACK_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def export(path: Path) -> Path:
    return write_shopify(
        path,
        [
            shopify_order("#1", "ann@example.com", "2026-06-01 10:00:00 +0200", "120.00", "901",
                          items=[("Lamp", "100.00"), ("Bulb", "20.00")]),
            shopify_order("#2", "ann@example.com", "2026-08-01 10:00:00 +0200", "80.00", "902",
                          refunded="80.00", financial_status="refunded"),
            shopify_order("#3", "ben@example.com", "2026-09-01 10:00:00 +0200", "20.00", "903",
                          cancelled_at="2026-09-01 12:00:00 +0200"),
            shopify_order("#4", "", "2026-09-02 10:00:00 +0200", "20.00", "904"),
        ],
    )  # fmt: skip


async def run(*argv: str) -> None:
    """`winback ...` in a thread (it runs its own event loop, as from a shell)."""
    await asyncio.to_thread(main, list(argv))


async def test_import_a_shopify_export_then_again(
    tmp_path: Path,
    on_test_database: None,
    committed: async_sessionmaker[AsyncSession],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = export(tmp_path / "orders_export.csv")
    await run("import", str(path))  # returns: exit status 0
    out = capsys.readouterr().out
    assert "import: orders_export.csv (Shopify order export)" in out
    assert "  loaded 5 rows in " in out and "  population refresh ..." in out
    assert f"winback import: {path} (Shopify order export)" in out
    assert "rows read         5 (1 further line items)" in out
    assert "events accepted   5" in out
    assert f"rejected          1 (see {path}.errors.csv: line, id, field, reason)" in out
    assert "clients touched   2 (2 re-folded from their events)" in out
    assert (
        (tmp_path / "orders_export.csv.errors.csv")
        .read_text()
        .splitlines()[1]
        .startswith("6,,Email,empty")
    )
    state = await stored_state(committed)
    ann = state["shopify:email:ann@example.com"]
    assert (ann["orders_count"], ann["lifetime_revenue"]) == (2, 120)  # #2 refunded in full
    assert state["shopify:email:ben@example.com"]["orders_count"] == 0  # cancelled

    await run("import", str(path), "--errors", str(tmp_path / "again.csv"))
    out = capsys.readouterr().out
    assert "events accepted   0" in out and "duplicates        5" in out
    assert await count(committed, "SELECT count(*) FROM event") == 5


async def test_an_orders_csv_needs_its_mapping(
    tmp_path: Path,
    on_test_database: None,
    committed: async_sessionmaker[AsyncSession],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_csv(
        tmp_path / "orders.csv",
        ["Order", "Customer", "Date", "Total"],
        [{"Order": "7", "Customer": "k1", "Date": "2026-10-01", "Total": "12.00"}],
    )
    with pytest.raises(SystemExit) as stopped:
        await run("import", str(path))
    message = str(stopped.value.code)
    assert message.startswith(f"winback import: {path}: unrecognised CSV header (Order, Customer")
    assert "--map client_id=COLUMN,order_id=COLUMN,amount=COLUMN,occurred_at=COLUMN" in message

    with pytest.raises(SystemExit) as stopped:
        await run("import", str(path), "--map", "client_id=Customer,order_id=Order")
    assert "amount, occurred_at must be mapped too" in str(stopped.value.code)

    mapping = "client_id=Customer,order_id=Order,amount=Total,occurred_at=Date"
    await run("import", str(path), "--map", mapping, "--timezone", "UTC")
    assert "events accepted   1" in capsys.readouterr().out
    assert await count(committed, "SELECT count(*) FROM client WHERE orders_count = 1") == 1


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["import", str(tmp_path / "nope.csv")])
    assert stopped.value.code == (
        f"winback import: cannot read {tmp_path / 'nope.csv'}: No such file or directory"
    )
