"""Client reads and writes over HTTP: one client, lists, cursor, CSV, as_of, timeline, PATCH,
erasure, stats."""

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client, Erasure, StatusChange
from app.events.models import ErasedEvent, Event
from tests.conftest import NOW

Headers = dict[str, dict[str, str]]


def event(event_id: str, client_id: str, kind: str, days_ago: float, **data: Any) -> dict:
    return {
        "id": event_id,
        "type": kind,
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "client_id": client_id,
        "data": data,
    }


def orders(client_id: str, days_ago: list[float], amount: str = "100.00") -> list[dict]:
    return [
        event(
            f"{client_id}-o{i}",
            client_id,
            "order.placed",
            d,
            order_id=f"{client_id}-{i}",
            amount=amount,
        )
        for i, d in enumerate(days_ago)
    ]


async def post_batch(api: AsyncClient, headers: Headers, events: list[dict]) -> dict:
    response = await api.post("/v1/events/batch", json=events, headers=headers["writer"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rejected"] == 0, body
    return body


async def seed(api: AsyncClient, headers: Headers) -> None:
    """Four clients: weekly buyer still buying, monthly buyer overdue, one long gone, a prospect."""
    await post_batch(
        api,
        headers,
        orders("weekly", [28, 21, 14, 7, 1], "50.00")
        + orders("monthly", [150, 120, 90, 60], "400.00")
        + orders("gone", [700, 600, 500], "1000.00")
        + [event("p1", "prospect", "request.created", 2, request_id="r1", channel="quote")],
    )


async def test_get_client_evaluates_now(api: AsyncClient, headers: Headers) -> None:
    await seed(api, headers)
    monthly = (await api.get("/v1/clients/monthly", headers=headers["reader"])).json()
    assert monthly["status"] == "at_risk"
    assert monthly["cycle_days"] == 30.0
    assert [s["code"] for s in monthly["signals"]] == ["lapsed"]
    assert monthly["signals"][0]["detail"]["overdue_ratio"] == 2.0
    assert monthly["value"] == "1600.00"
    assert monthly["average_order_value"] == "400.00"
    assert monthly["expected_next_order_at"].startswith(
        (NOW - timedelta(days=30)).date().isoformat()
    )
    gone = (await api.get("/v1/clients/gone", headers=headers["reader"])).json()
    assert gone["status"] == "lost"
    assert gone["lost_count"] == 1
    prospect = (await api.get("/v1/clients/prospect", headers=headers["reader"])).json()
    assert prospect["status"] == "prospect"
    assert prospect["open_requests"] == 1


async def test_read_is_never_stale(api: AsyncClient, headers: Headers, clock: Any) -> None:
    await post_batch(api, headers, orders("weekly", [28, 21, 14, 7, 1]))
    assert (await api.get("/v1/clients/weekly", headers=headers["reader"])).json()[
        "status"
    ] == "active"
    clock.now = NOW + timedelta(days=10)  # nothing written, no sweep: time alone
    assert (await api.get("/v1/clients/weekly", headers=headers["reader"])).json()[
        "status"
    ] == "at_risk"
    clock.now = NOW + timedelta(days=30)
    assert (await api.get("/v1/clients/weekly", headers=headers["reader"])).json()[
        "status"
    ] == "lost"


async def test_as_of_shows_the_client_as_it_stood(api: AsyncClient, headers: Headers) -> None:
    await seed(api, headers)
    past = (NOW - timedelta(days=95)).isoformat()
    then = (
        await api.get("/v1/clients/monthly", params={"as_of": past}, headers=headers["reader"])
    ).json()
    assert then["orders_count"] == 2  # the orders of 150 and 120 days ago
    assert then["cycle_source"] == "default"  # one gap is not a cycle yet
    assert then["status"] == "active"
    assert then["as_of"].startswith((NOW - timedelta(days=95)).date().isoformat())
    future = (NOW + timedelta(days=3)).isoformat()
    response = await api.get(
        "/v1/clients/monthly", params={"as_of": future}, headers=headers["reader"]
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "as_of"


async def test_as_of_shows_the_attributes_as_they_were(api: AsyncClient, headers: Headers) -> None:
    first = event("named-o1", "named", "order.placed", 40, order_id="n1", amount="80.00")
    first["client"] = {"name": "Old Name Ltd", "market": "b2b", "manager_id": "m-1"}
    assert (await api.post("/v1/events", json=first, headers=headers["writer"])).status_code == 201
    changed = {"name": "New Name Ltd", "market": "b2c", "tags": ["moved"]}
    patched = await api.patch("/v1/clients/named", json=changed, headers=headers["writer"])
    assert patched.status_code == 200, patched.text
    past = (NOW - timedelta(days=10)).isoformat()
    then = (
        await api.get("/v1/clients/named", params={"as_of": past}, headers=headers["reader"])
    ).json()
    assert (then["name"], then["market"], then["manager_id"], then["tags"]) == (
        "Old Name Ltd",
        "b2b",
        "m-1",
        [],
    )
    today = (await api.get("/v1/clients/named", headers=headers["reader"])).json()
    assert (today["name"], today["market"], today["manager_id"], today["tags"]) == (
        "New Name Ltd",
        "b2c",
        "m-1",
        ["moved"],
    )
    plan = await api.get(
        "/v1/clients/named/recovery-plan", params={"as_of": past}, headers=headers["reader"]
    )
    assert plan.status_code == 200, plan.text


async def test_unknown_client_is_a_404_problem(api: AsyncClient, headers: Headers) -> None:
    response = await api.get("/v1/clients/nobody", headers=headers["reader"])
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert "nobody" in response.json()["detail"]


async def test_lists_filter_and_sort(api: AsyncClient, headers: Headers) -> None:
    await seed(api, headers)
    page = (
        await api.get("/v1/clients", params={"status": "at_risk"}, headers=headers["reader"])
    ).json()
    assert [c["client_id"] for c in page["items"]] == ["monthly"]
    assert page["next_cursor"] is None
    both = (
        await api.get("/v1/clients", params={"status": "at_risk,lost"}, headers=headers["reader"])
    ).json()
    assert [c["client_id"] for c in both["items"]] == ["gone", "monthly"]
    by_value = (await api.get("/v1/clients", headers=headers["reader"])).json()
    assert [c["client_id"] for c in by_value["items"]] == ["gone", "monthly", "weekly", "prospect"]
    recent = (
        await api.get("/v1/clients", params={"sort": "last_order_desc"}, headers=headers["reader"])
    ).json()
    assert [c["client_id"] for c in recent["items"]] == ["weekly", "monthly", "gone", "prospect"]
    overdue = (
        await api.get("/v1/clients", params={"sort": "overdue_desc"}, headers=headers["reader"])
    ).json()
    assert [c["client_id"] for c in overdue["items"]][:2] == ["gone", "monthly"]
    lapsed = (
        await api.get("/v1/clients", params={"signal": "lapsed"}, headers=headers["reader"])
    ).json()
    assert {c["client_id"] for c in lapsed["items"]} == {"gone", "monthly"}
    rich = (
        await api.get("/v1/clients", params={"min_value": "1000"}, headers=headers["reader"])
    ).json()
    # value is measured in the year ending at the last order, so a lost client keeps its weight
    assert [c["client_id"] for c in rich["items"]] == ["gone", "monthly"]
    assert rich["items"][0]["value"] == "3000.00"


async def test_every_sort_pages_through_ties_and_missing_keys(
    api: AsyncClient, headers: Headers
) -> None:
    """A page at a time gives the list a single page gives, for every sort: ties on the key
    (same value, same dates) are broken by client_id, and clients without a key (a prospect:
    no orders, no expected order, no score) come last, behind an 'infinity' cursor."""
    await seed(api, headers)
    await post_batch(api, headers, orders("twin", [28, 21, 14, 7, 1], "50.00"))
    reader = headers["reader"]
    for sort in ("value_desc", "last_order_desc", "overdue_desc", "risk_desc", "clv_desc"):
        whole = (await api.get("/v1/clients", params={"sort": sort}, headers=reader)).json()
        expected = [c["client_id"] for c in whole["items"]]
        assert len(expected) == 5 and whole["next_cursor"] is None
        walked: list[str] = []
        params: dict[str, Any] = {"sort": sort, "limit": 1}
        while True:
            page = (await api.get("/v1/clients", params=params, headers=reader)).json()
            walked += [c["client_id"] for c in page["items"]]
            if page["next_cursor"] is None:
                break
            params["cursor"] = page["next_cursor"]
        assert walked == expected, sort
        # twins tie on every key; client_id breaks the tie in the sort's direction
        pair = ["twin", "weekly"] if sort == "overdue_desc" else ["weekly", "twin"]
        at = expected.index(pair[0])
        assert expected[at : at + 2] == pair, (sort, expected)
        if sort in ("last_order_desc", "overdue_desc"):
            assert expected[-1] == "prospect"  # no order: no key, last


async def test_list_filters_combine(api: AsyncClient, headers: Headers) -> None:
    """Each filter and their combinations keep exactly the clients the same test in Python keeps
    (against the whole list), in the list's order."""
    await seed(api, headers)
    reader = headers["reader"]
    everyone = (await api.get("/v1/clients", headers=reader)).json()["items"]
    statuses = {c["status"] for c in everyone}
    assert len(statuses) >= 3
    some = sorted(statuses)[:2]
    for params, keep in [
        ({"status": ",".join(some)}, lambda c: c["status"] in some),
        ({"status": ",".join(some), "market": "b2b"}, lambda c: c["status"] in some),
        ({"market": "b2c"}, lambda c: False),
        ({"min_value": "1000"}, lambda c: Decimal(c["value"]) >= 1000),
        (
            {"signal": "lapsed", "min_value": "1000"},
            lambda c: "lapsed" in c["signals"] and Decimal(c["value"]) >= 1000,
        ),
        ({"tier": "A,B"}, lambda c: c["tier"] in ("A", "B")),
        ({"tier": "C", "status": some[0]}, lambda c: c["tier"] == "C" and c["status"] == some[0]),
        ({"manager_id": "nobody"}, lambda c: False),
        ({"min_risk": 0.5}, lambda c: (c["churn_risk"] or 0) >= 0.5),
    ]:
        page = (await api.get("/v1/clients", params=params, headers=reader)).json()
        assert [c["client_id"] for c in page["items"]] == [
            c["client_id"] for c in everyone if keep(c)
        ], params
    lapsed = (await api.get("/v1/clients", params={"signal": "lapsed"}, headers=reader)).json()
    assert {c["client_id"] for c in lapsed["items"]} == {"gone", "monthly"}


async def test_bad_list_parameters_are_named(api: AsyncClient, headers: Headers) -> None:
    for params, field in [
        ({"status": "sleepy"}, "status"),
        ({"sort": "random"}, "sort"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"min_value": "-3"}, "min_value"),
    ]:
        response = await api.get("/v1/clients", params=params, headers=headers["reader"])
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in response.json()["errors"]], response.json()


async def test_cursor_pages_are_stable_under_inserts(api: AsyncClient, headers: Headers) -> None:
    events = []
    for i in range(25):
        events += orders(f"c{i:02d}", [40, 10], amount=f"{100 + i}.00")
    await post_batch(api, headers, events)
    seen: list[str] = []
    cursor = None
    inserted = False
    while True:
        params: dict[str, Any] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = (await api.get("/v1/clients", params=params, headers=headers["reader"])).json()
        seen += [c["client_id"] for c in page["items"]]
        if not inserted:
            # new clients land before and after the cursor; the walk neither repeats nor skips
            await post_batch(
                api, headers, orders("richest", [5], "9999.00") + orders("poorest", [5], "1.00")
            )
            inserted = True
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [f"c{i:02d}" for i in range(24, -1, -1)]
    assert [c for c in seen if c.startswith("c")] == expected
    assert len(seen) == len(set(seen))
    assert "poorest" in seen and "richest" not in seen


async def test_csv_streams_the_list(api: AsyncClient, headers: Headers) -> None:
    await seed(api, headers)
    response = await api.get(
        "/v1/clients",
        params={"status": "at_risk,lost"},
        headers=headers["reader"] | {"Accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["client_id"] for r in rows] == ["gone", "monthly"]
    assert rows[1]["status"] == "at_risk"
    assert rows[1]["signals"] == "lapsed"
    assert rows[1]["value"] == "1600.00"


async def test_timeline_is_newest_first_and_paginated(api: AsyncClient, headers: Headers) -> None:
    await post_batch(api, headers, orders("acme", [100, 70, 40]))
    await api.post(
        "/v1/events",
        json=event("c1", "acme", "client.churned", 20, reason_code="budget_cut"),
        headers=headers["writer"],
    )
    first = (
        await api.get("/v1/clients/acme/timeline", params={"limit": 3}, headers=headers["reader"])
    ).json()
    second = (
        await api.get(
            "/v1/clients/acme/timeline",
            params={"limit": 3, "cursor": first["next_cursor"]},
            headers=headers["reader"],
        )
    ).json()
    items = first["items"] + second["items"]
    assert second["next_cursor"] is None
    assert [i["at"] for i in items] == sorted((i["at"] for i in items), reverse=True)
    kinds = [(i["kind"], i["type"]) for i in items]
    assert kinds.count(("event", "order.placed")) == 3
    assert ("event", "client.churned") in kinds
    changes = [i["data"] for i in items if i["kind"] == "status_change"]
    assert {"from": "active", "to": "lost", "signals": []} in changes
    # an event's data is the data it was sent with, not wrapped again
    placed = [i for i in items if i["type"] == "order.placed"]
    assert {i["data"]["order_id"] for i in placed} == {"acme-0", "acme-1", "acme-2"}
    assert all(i["client"] is None for i in placed)


async def test_list_endpoints_refuse_unknown_query_parameters(
    api: AsyncClient, headers: Headers
) -> None:
    """A misspelt filter must not return the unfiltered list as if it were the answer."""
    await seed(api, headers)
    response = await api.get("/v1/clients", params={"statuss": "lost"}, headers=headers["reader"])
    assert response.status_code == 422
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["statuss"]
    assert "status" in problem["errors"][0]["message"]  # the known names are listed
    timeline = await api.get(
        "/v1/clients/weekly/timeline", params={"limt": 5}, headers=headers["reader"]
    )
    assert timeline.status_code == 422
    assert timeline.json()["errors"][0]["field"] == "limt"
    ok = await api.get(
        "/v1/clients", params={"status": "lost", "limit": 5}, headers=headers["reader"]
    )
    assert ok.status_code == 200


async def test_patch_changes_attributes_and_decision(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    await post_batch(api, headers, orders("acme", [40, 10]))
    response = await api.patch(
        "/v1/clients/acme",
        json={"manager_id": "m-9", "tags": ["north"], "do_not_contact": True},
        headers=headers["writer"],
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["manager_id"], body["tags"], body["do_not_contact"]) == ("m-9", ["north"], True)
    stored = await session.scalar(
        select(func.count()).select_from(Event).where(Event.type == "client.updated")
    )
    assert stored == 1
    bad = await api.patch("/v1/clients/acme", json={"market": "b2x"}, headers=headers["writer"])
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "market"
    missing = await api.patch("/v1/clients/nobody", json={"name": "x"}, headers=headers["writer"])
    assert missing.status_code == 404


async def test_erasure_removes_pii_and_events_keeps_an_audit_row(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    await post_batch(api, headers, orders("acme", [40, 10]))
    await api.patch("/v1/clients/acme", json={"email": "a@acme.example"}, headers=headers["writer"])
    assert (await api.delete("/v1/clients/acme", headers=headers["reader"])).status_code == 403
    response = await api.delete("/v1/clients/acme", headers=headers["admin"])
    assert response.status_code == 200
    assert response.json() == {"client_id": "acme", "erased": True, "events_deleted": 3}
    for model in (Client, Event, StatusChange):
        assert await session.scalar(select(func.count()).select_from(model)) == 0
    audit = (await session.execute(select(Erasure))).scalars().one()
    assert audit.events_deleted == 3
    assert "acme" not in audit.client_id_sha256
    assert (await api.get("/v1/clients/acme", headers=headers["reader"])).status_code == 404
    assert (await api.delete("/v1/clients/acme", headers=headers["admin"])).status_code == 404


async def test_a_replayed_event_of_an_erased_client_stores_nothing(
    api: AsyncClient, headers: Headers, session: AsyncSession
) -> None:
    """Platforms retry webhooks for hours: a retry must not bring an erased client back."""
    history = orders("zeta", [40, 10])
    await post_batch(api, headers, history)
    assert (await api.delete("/v1/clients/zeta", headers=headers["admin"])).status_code == 200
    tombstones = (await session.execute(select(ErasedEvent.id_sha256))).scalars().all()
    assert len(tombstones) == 2 and not any("zeta" in t for t in tombstones)

    replay = await api.post("/v1/events", json=history[0], headers=headers["writer"])
    assert replay.status_code == 200, replay.text
    assert replay.json()["duplicate"] is True
    batch = (await api.post("/v1/events/batch", json=history, headers=headers["writer"])).json()
    assert (batch["accepted"], batch["duplicates"], batch["rejected"]) == (0, 2, 0)
    assert (await api.get("/v1/clients/zeta", headers=headers["reader"])).status_code == 404
    for model in (Client, Event, StatusChange):
        assert await session.scalar(select(func.count()).select_from(model)) == 0

    # a genuinely new event for the same client id starts a new client from it alone
    fresh = event("zeta-new", "zeta", "order.placed", 1, order_id="zeta-9", amount="70.00")
    created = await api.post("/v1/events", json=fresh, headers=headers["writer"])
    assert created.status_code == 201 and created.json()["duplicate"] is False
    client = (await api.get("/v1/clients/zeta", headers=headers["reader"])).json()
    assert (client["orders_count"], client["lifetime_revenue"]) == (1, "70.00")


async def test_stats_count_by_status_and_tier(api: AsyncClient, headers: Headers) -> None:
    await seed(api, headers)
    stats = (await api.get("/v1/stats", headers=headers["reader"])).json()
    assert stats["clients"] == 4
    assert stats["by_status"] == {"active": 1, "at_risk": 1, "lost": 1, "prospect": 1}
    assert stats["value_at_risk"] == "1600.00"
    assert stats["value_lost"] == "3000.00"


@pytest.mark.parametrize(
    ("method", "path", "scope_ok"),
    [
        ("GET", "/v1/clients", "reader"),
        ("GET", "/v1/clients/acme", "reader"),
        ("GET", "/v1/stats", "reader"),
        ("GET", "/v1/policy", "reader"),
        ("POST", "/v1/events", "writer"),
        ("POST", "/v1/events/batch", "writer"),
        ("PUT", "/v1/policy", "admin"),
        ("DELETE", "/v1/clients/acme", "admin"),
    ],
)
async def test_auth_401_and_403(
    api: AsyncClient, headers: Headers, method: str, path: str, scope_ok: str
) -> None:
    for bad in ({}, {"Authorization": "Bearer wbk_nope_nope"}, {"Authorization": "Basic abc"}):
        response = await api.request(method, path, headers=bad)
        assert response.status_code == 401, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"] == "Bearer"
    wrong = "writer" if scope_ok != "writer" else "reader"
    response = await api.request(method, path, headers=headers[wrong])
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "scope" in response.json()["detail"]


async def test_what_get_returns_can_be_patched_back(api: AsyncClient, headers: Headers) -> None:
    """A CRM reads a client, changes a field and sends the whole thing back: the computed fields
    are ignored, the attribute changes; a misspelt field is still refused."""
    await post_batch(api, headers, orders("acme", [40, 10]))
    read = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    read["manager_id"] = "m-42"
    read["status"] = "lost"  # computed: ignored, not an error
    response = await api.patch("/v1/clients/acme", json=read, headers=headers["writer"])
    assert response.status_code == 200, response.text
    assert (response.json()["manager_id"], response.json()["status"]) == ("m-42", "active")
    misspelt = await api.patch(
        "/v1/clients/acme", json={"manger_id": "m-1"}, headers=headers["writer"]
    )
    assert misspelt.status_code == 422
    assert misspelt.json()["errors"][0]["field"] == "manger_id"
