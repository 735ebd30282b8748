"""The CDNOW report: winback's churn statuses and scores against what the 23,570 CDNOW customers
did next (docs/models.md, "Backtest on CDNOW").

    python -m bench.cdnow_report [--server-url postgresql://postgres@127.0.0.1:5432/postgres]
                                 [--cutoff 1997-09-30] [--horizon-days 273] [--markdown]

1. A scratch database `winback_bench_cdnow` on 127.0.0.1 (dropped and made afresh), migrated.
2. The master file's orders go in through the API (`POST /v1/events/batch`, 1,000 a request, an
   in-process app over ASGI): one `order.placed` per row, at noon UTC of its date, the dollar
   value as the amount, policy market b2c and currency USD. All of them: the calibration period
   (to 1997-09-30) is what the backtest evaluates on, the rest (to 1998-06-30) says who ordered
   again within the horizon.
3. `POST /v1/backtests {cutoff, horizon_days}`: the AUC of status, churn_risk and p_alive, with
   the population figures and the model fitted on the history up to the cutoff only.
4. Independently, from the file itself: plain recency (days since the last order at the cutoff)
   and the fixed 90-day rule, and the fraction of churners, to check the API's figures.
5. `POST /v1/policy/tune`: the thresholds and weights that backtest best, before and after.

Only 127.0.0.1 is contacted. Takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from httpx import ASGITransport, AsyncClient

from app.config import Settings
from app.main import create_app
from app.migrate import upgrade
from app.predictive.metrics import auc
from bench.common import check_local, drop_database

ROOT = Path(__file__).resolve().parent.parent
MASTER = ROOT / "tests" / "predictive" / "data" / "CDNOW_master.txt"
DATABASE = "winback_bench_cdnow"
ADMIN_KEY = "wb_cdnow_report_admin_key_0123456789abcdef"
EPOCH = date(1997, 1, 1)


def read_master(path: Path = MASTER) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(customer id, days since 1997-01-01, dollars) per order row."""
    table = np.loadtxt(path, skiprows=1)
    ymd = table[:, 1].astype(np.int64)
    days = np.array(
        [(date(y // 10000, y // 100 % 100, y % 100) - EPOCH).days for y in ymd], dtype=np.int64
    )
    return table[:, 0].astype(np.int64), days, table[:, 3]


def events(client: np.ndarray, day: np.ndarray, amount: np.ndarray) -> list[dict[str, Any]]:
    out = []
    for row, (c, d, a) in enumerate(zip(client, day, amount, strict=True)):
        moment = datetime(1997, 1, 1, 12, tzinfo=UTC) + timedelta(days=int(d))
        out.append(
            {
                "id": f"cdnow-{row}",
                "type": "order.placed",
                "occurred_at": moment.isoformat(),
                "client_id": f"cdnow-{c:05d}",
                "data": {"order_id": f"r{row}", "amount": f"{a:.2f}"},
            }
        )
    return out


def reference(
    client: np.ndarray, day: np.ndarray, cutoff_day: int, horizon_days: int
) -> dict[str, float]:
    """The script's own figures from the file: recency and the fixed 90-day rule."""
    before = day <= cutoff_day
    ids = np.unique(client[before])
    last = np.full(client.max() + 1, -1)
    np.maximum.at(last, client[before], day[before])
    again = np.zeros(client.max() + 1, dtype=bool)
    window = (day > cutoff_day) & (day <= cutoff_day + horizon_days)
    again[client[window]] = True
    churned = ~again[ids]
    recency = (cutoff_day - last[ids]).astype(float)
    return {
        "clients": float(ids.size),
        "churned": float(churned.sum()),
        "recency": auc(recency, churned),
        "fixed_90_days": auc((recency >= 90).astype(float), churned),
    }


async def run(server_url: str, cutoff: datetime, horizon_days: int) -> dict[str, Any]:
    check_local(server_url)
    url = await drop_database(server_url, DATABASE, create=True)
    await upgrade(url)
    settings = Settings(
        database_url=url,
        run_worker=False,
        admin_key=ADMIN_KEY,
        snapshot_ttl_seconds=0,
        rate_limit_admin_per_second=0,
        db_statement_timeout_seconds=300,
    )
    app = create_app(settings)
    client, day, amount = read_master()
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    timings: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        transport = ASGITransport(app=app)
        async with AsyncClient(transport=transport, base_url="http://cdnow", timeout=600) as api:
            response = await api.patch(
                "/v1/policy", json={"market": "b2c", "currency": "USD"}, headers=headers
            )
            response.raise_for_status()
            started = time.perf_counter()
            batch = events(client, day, amount)
            for start in range(0, len(batch), 1000):
                response = await api.post(
                    "/v1/events/batch", json=batch[start : start + 1000], headers=headers
                )
                response.raise_for_status()
                assert response.json()["rejected"] == 0, response.text
            timings["ingest"] = time.perf_counter() - started
            body = {"cutoff": cutoff.isoformat(), "horizon_days": horizon_days}
            started = time.perf_counter()
            response = await api.post("/v1/backtests", json=body, headers=headers)
            response.raise_for_status()
            timings["backtest"] = time.perf_counter() - started
            backtest = response.json()
            started = time.perf_counter()
            response = await api.post("/v1/policy/tune", json=body, headers=headers)
            response.raise_for_status()
            timings["tune"] = time.perf_counter() - started
            tuned = response.json()
    await drop_database(server_url, DATABASE)
    cutoff_day = (cutoff.astimezone(UTC).date() - EPOCH).days
    return {
        "orders": int(client.size),
        "backtest": backtest,
        "tune": tuned,
        "reference": reference(client, day, cutoff_day, horizon_days),
        "timings": timings,
    }


def table(found: dict[str, Any], markdown: bool) -> str:
    auc_of = found["backtest"]["auc"]
    after = found["tune"]["after"]["auc"]
    ref = found["reference"]
    rows = [
        ("status (prospect < active < recovered < at_risk < lost)", "status", ">= 0.70"),
        ("churn_risk", "churn_risk", "> recency and > expected orders"),
        ("p_alive (MBG/NBD, lower = churn)", "p_alive", ""),
        ("signals (how many)", "signals", ""),
        ("lapse (days since the last order / at-risk line)", "lapse", ""),
        ("expected orders in 90 days (MBG/NBD)", "expected_orders_90d", "reference"),
        ("plain recency (days since the last order)", "recency", "reference"),
        ("fixed 90-day rule", "fixed_90_days", "reference"),
    ]

    def number(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    out = []
    if markdown:
        out.append("| predictor | AUC, default policy | tuned policy | script's own | target |")
        out.append("|---|---|---|---|---|")
    for label, key, target in rows:
        own = number(ref[key]) if key in ref else ""
        cells = (label, number(auc_of.get(key)), number(after.get(key)), own, target)
        out.append(
            ("| " + " | ".join(cells) + " |") if markdown else "  ".join(f"{c:<28}" for c in cells)
        )
    b = found["backtest"]
    flagged, tuned_flagged = b["at_risk_and_lost"], found["tune"]["after"]["at_risk_and_lost"]
    out += [
        "",
        f"clients {b['clients']} (file: {ref['clients']:.0f}), churned {b['churned']} "
        f"(file: {ref['churned']:.0f}), churn rate {b['churn_rate']}",
        f"at_risk + lost: default {flagged['clients']} clients, precision {flagged['precision']}, "
        f"recall {flagged['recall']}; tuned {tuned_flagged['clients']}, precision "
        f"{tuned_flagged['precision']}, recall {tuned_flagged['recall']}",
        f"tuned policy (PATCH body): {found['tune']['proposed']}",
        f"model at the cutoff: {b['model']['purchase']}, n {b['model']['n']}, LL "
        f"{b['model']['log_likelihood']:.2f}, converged {b['model']['converged']}",
        "by status (default): "
        + ", ".join(f"{r['status']} {r['clients']} ({r['churn_rate']})" for r in b["by_status"]),
        "lift by churn_risk decile (default): "
        + ", ".join(f"{d['lift']:.2f}" for d in b["lift_by_decile"]["churn_risk"]),
        f"{found['orders']} orders ingested through the API in {found['timings']['ingest']:.1f} s; "
        f"backtest {found['timings']['backtest']:.1f} s; tune {found['timings']['tune']:.1f} s",
    ]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--cutoff", default="1997-09-30", help="a date: its end, UTC")
    parser.add_argument("--horizon-days", type=int, default=273)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    cutoff = datetime.fromisoformat(args.cutoff).replace(hour=23, minute=59, second=59, tzinfo=UTC)
    found = asyncio.run(run(args.server_url, cutoff, args.horizon_days))
    print(f"CDNOW backtest at {cutoff.isoformat()}, horizon {args.horizon_days} days")
    print(table(found, args.markdown))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
