"""The members export: JSON pages and the CSV a CRM imports as it is (columns, escaping)."""

from __future__ import annotations

import csv
import io

from httpx import AsyncClient
from sqlalchemy.ext.asyncio import AsyncSession

from app.campaigns.holdout import in_holdout
from app.campaigns.service import CSV_COLUMNS
from tests.campaigns.builders import Headers, buyer, load

AWKWARD = {
    "comma": 'Müller, Söhne & Co "Kaffee"',
    "quote": '"Quoted" ""twice""',
    "newline": "First line\nsecond line\r\nthird",
    "unicode": "北京贸易 — Ōsaka ☕ Straße",
}


async def test_csv_columns_and_escaping(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    histories = {
        client_id: buyer(
            f"x-{client_id}", 150, "3000.00", name=name, phone="+49 (30) 1234,56", email=None
        )
        for client_id, name in AWKWARD.items()
    }
    await load(api, headers, session, {h.client_id: h for h in histories.values()})
    created = await api.post(
        "/v1/campaigns",
        json={"name": "export", "id": "exp", "segment": {"status": ["lost"]}, "holdout_pct": 0},
        headers=headers["campaigns"],
    )
    assert created.status_code == 201, created.text

    response = await api.get(
        "/v1/campaigns/exp/members", headers={**headers["reader"], "Accept": "text/csv"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="exp-treatment.csv"' in response.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert (
        tuple(rows[0])
        == CSV_COLUMNS
        == (
            "client_id",
            "name",
            "email",
            "phone",
            "manager_id",
            "tier",
            "status",
            "value",
            "decision",
            "first_step_channel",
            "first_step_action",
            "first_step_day",
            "offer",
            "owner_role",
            "campaign_id",
            "group",
        )
    )
    records = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    by_id = {record["client_id"]: record for record in records}
    assert sorted(by_id) == sorted(f"x-{key}" for key in AWKWARD)  # client id order
    assert [r["client_id"] for r in records] == sorted(by_id)
    for key, name in AWKWARD.items():
        record = by_id[f"x-{key}"]
        assert record["name"] == name
        assert record["phone"] == "+49 (30) 1234,56"
        assert record["email"] == ""  # None is an empty cell
        assert record["tier"] == "A" and record["status"] == "lost"
        assert record["value"] == "12000.00"
        assert record["decision"] == "return_first"
        assert record["first_step_channel"] == "call"
        assert record["first_step_action"] in ("exit_interview", "miss_you_call")
        assert record["first_step_day"] == "0"
        assert record["owner_role"] == "leadership"
        assert "special terms" in record["offer"] and record["offer"].endswith("(valid 30 days)")
        assert record["campaign_id"] == "exp" and record["group"] == "treatment"

    # the JSON pages give the same members, in the same order, across pages
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (
            await api.get("/v1/campaigns/exp/members", params=params, headers=headers["reader"])
        ).json()
        seen += [item["client_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r["client_id"] for r in records]

    # the holdout is asked for explicitly; a cursor of one group is no cursor of the other
    holdout = await api.get(
        "/v1/campaigns/exp/members",
        params={"group": "holdout"},
        headers={**headers["reader"], "Accept": "text/csv"},
    )
    assert holdout.text.strip() == ",".join(CSV_COLUMNS)
    first = (
        await api.get("/v1/campaigns/exp/members", params={"limit": 1}, headers=headers["reader"])
    ).json()
    wrong = await api.get(
        "/v1/campaigns/exp/members",
        params={"group": "holdout", "cursor": first["next_cursor"]},
        headers=headers["reader"],
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["field"] == "cursor"
    missing = await api.get(
        "/v1/campaigns/nope/members", headers={**headers["reader"], "Accept": "text/csv"}
    )
    assert missing.status_code == 404


async def test_csv_streams_every_page_of_a_large_group(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    """More members than one CSV page (1,000): every one comes once, in order."""
    histories = {
        f"bulk-{n:04d}": buyer(f"bulk-{n:04d}", 150, "100.00", orders=1) for n in range(1250)
    }
    await load(api, headers, session, histories)
    created = await api.post(
        "/v1/campaigns",
        json={"name": "bulk", "id": "bulk", "holdout_pct": 20},
        headers=headers["campaigns"],
    )
    assert created.status_code == 201, created.text
    response = await api.get(
        "/v1/campaigns/bulk/members", headers={**headers["reader"], "Accept": "text/csv"}
    )
    rows = list(csv.reader(io.StringIO(response.text, newline="")))[1:]
    expected = sorted(c for c in histories if not in_holdout("bulk", c, 20))
    assert [row[0] for row in rows] == expected
    assert created.json()["members"]["treatment"] == len(expected)
