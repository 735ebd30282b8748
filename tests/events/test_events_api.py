"""POST /v1/events and /v1/events/batch over HTTP, against real PostgreSQL."""

import itertools
import json
from datetime import timedelta
from typing import Any

from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.clients.models import Client
from app.events.models import Event
from tests.conftest import NOW


def order(
    event_id: str,
    client_id: str = "acme",
    days_ago: float = 10,
    amount: Any = "100.00",
    **data: Any,
) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "order.placed",
        "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(),
        "client_id": client_id,
        "data": {"order_id": f"o-{event_id}", "amount": amount, **data},
    }


async def count(session: AsyncSession, model: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_an_order_creates_an_active_client(api: AsyncClient, headers: dict) -> None:
    event = order("e1") | {"client": {"name": "Acme Ltd", "market": "b2b", "manager_id": "m-7"}}
    response = await api.post("/v1/events", json=event, headers=headers["writer"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        "id": "e1",
        "client_id": "acme",
        "duplicate": False,
        "status": "active",
        "tier": None,
        "signals": [],
    }
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["name"] == "Acme Ltd"
    assert client["manager_id"] == "m-7"
    assert client["orders_count"] == 1
    assert client["lifetime_revenue"] == "100.00"


async def test_same_id_twice_is_applied_once(
    api: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    first = await api.post("/v1/events", json=order("e1"), headers=headers["writer"])
    again = await api.post("/v1/events", json=order("e1"), headers=headers["writer"])
    assert first.status_code == 201
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    assert await count(session, Event) == 1
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["orders_count"] == 1


async def test_same_id_with_another_body_is_a_conflict(
    api: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    await api.post("/v1/events", json=order("e1"), headers=headers["writer"])
    response = await api.post(
        "/v1/events", json=order("e1", amount="999.00"), headers=headers["writer"]
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 409
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["lifetime_revenue"] == "100.00"


async def test_conflict_on_another_client_leaves_no_client_behind(
    api: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    await api.post("/v1/events", json=order("e1"), headers=headers["writer"])
    response = await api.post(
        "/v1/events", json=order("e1", client_id="other"), headers=headers["writer"]
    )
    assert response.status_code == 409
    assert (await api.get("/v1/clients/other", headers=headers["reader"])).status_code == 404


async def test_amount_may_be_a_number_or_a_string(api: AsyncClient, headers: dict) -> None:
    await api.post("/v1/events", json=order("e1", amount=12.5), headers=headers["writer"])
    await api.post(
        "/v1/events", json=order("e2", amount="7.25", days_ago=5), headers=headers["writer"]
    )
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["lifetime_revenue"] == "19.75"


async def assert_rejected(
    api: AsyncClient,
    headers: dict,
    session: AsyncSession,
    event: Any,
    field: str,
    status: int = 422,
) -> dict[str, Any]:
    response = await api.post("/v1/events", json=event, headers=headers["writer"])
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "status", "detail"} <= problem.keys()
    if field:
        assert field in [e["field"] for e in problem["errors"]], problem
        assert field in problem["detail"]
    assert await count(session, Event) == 0
    assert await count(session, Client) == 0
    return problem


async def test_bad_input_names_the_field_and_stores_nothing(
    api: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    await assert_rejected(api, headers, session, order("e1", amount="-1"), "data.amount")
    naive = order("e1") | {"occurred_at": "2026-03-01T10:00:00"}
    await assert_rejected(api, headers, session, naive, "occurred_at")
    unknown_type = order("e1") | {"type": "order.teleported"}
    await assert_rejected(api, headers, session, unknown_type, "type")
    extra = order("e1") | {"colour": "blue"}
    await assert_rejected(api, headers, session, extra, "colour")
    missing = order("e1")
    del missing["data"]["order_id"]
    await assert_rejected(api, headers, session, missing, "data.order_id")
    future = order("e1", days_ago=-2)
    await assert_rejected(api, headers, session, future, "occurred_at")
    foreign = order("e1", currency="USD")
    await assert_rejected(api, headers, session, foreign, "data.currency")
    lost = {
        "id": "e1",
        "type": "request.lost",
        "occurred_at": NOW.isoformat(),
        "client_id": "acme",
        "data": {"request_id": "r1", "reason_code": "aliens"},
    }
    await assert_rejected(api, headers, session, lost, "data.reason_code")
    long_client = order("e1", client_id="x" * 129)
    await assert_rejected(api, headers, session, long_client, "client_id")
    score = {
        "id": "e1",
        "type": "feedback.received",
        "occurred_at": NOW.isoformat(),
        "client_id": "acme",
        "data": {"feedback_id": "f1", "kind": "survey", "score": 11},
    }
    await assert_rejected(api, headers, session, score, "data.score")
    misspelt = order("e1", marign="10.00")  # an optional field misspelt is not ignored
    await assert_rejected(api, headers, session, misspelt, "data.marign")
    huge_extra = order("e1", extra={"blob": "x" * 20_000})
    await assert_rejected(api, headers, session, huge_extra, "data.extra")


async def test_a_senders_own_fields_travel_in_data_extra(api: AsyncClient, headers: dict) -> None:
    shop_fields = {"channel": "web", "line_items": [{"sku": "A-1", "qty": 2}], "gift": False}
    event = order("e1", margin="30.00", extra=shop_fields)
    response = await api.post("/v1/events", json=event, headers=headers["writer"])
    assert response.status_code == 201, response.text
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["lifetime_revenue"] == "100.00"  # extra changes nothing winback computes
    timeline = (await api.get("/v1/clients/acme/timeline", headers=headers["reader"])).json()
    [placed] = [i for i in timeline["items"] if i["type"] == "order.placed"]
    assert placed["data"]["extra"] == shop_fields
    # the same event again is a duplicate; the same id with other extra fields is a conflict
    again = await api.post("/v1/events", json=event, headers=headers["writer"])
    assert again.status_code == 200 and again.json()["duplicate"] is True
    other = order("e1", margin="30.00", extra={"channel": "pos"})
    assert (await api.post("/v1/events", json=other, headers=headers["writer"])).status_code == 409


async def test_malformed_json_is_a_400(api: AsyncClient, headers: dict) -> None:
    response = await api.post(
        "/v1/events",
        content=b'{"id": ',
        headers=headers["writer"] | {"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


async def test_foreign_currency_counts_in_base_amount(api: AsyncClient, headers: dict) -> None:
    event = order("e1", amount="110.00", currency="USD", amount_in_base="100.00")
    assert (await api.post("/v1/events", json=event, headers=headers["writer"])).status_code == 201
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["lifetime_revenue"] == "100.00"


async def test_oversized_body_is_a_413(
    api: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    event = order("e1") | {"client": {"name": "n" * 200, "attributes": {"blob": "x" * 2_000_000}}}
    response = await api.post("/v1/events", json=event, headers=headers["writer"])
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/problems/content-too-large")
    assert await count(session, Event) == 0


async def test_a_body_that_is_not_json_is_a_415_that_says_so(
    api: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    # what `curl -d` sends when the content type is forgotten
    response = await api.post(
        "/v1/events",
        content=json.dumps(order("e1")),
        headers=headers["writer"] | {"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 415
    problem = response.json()
    assert problem["type"].endswith("/problems/unsupported-media-type")
    assert "application/json" in problem["detail"]
    assert await count(session, Event) == 0
    # without a content type it is refused the same way; JSON with a charset is JSON
    bare = await api.post("/v1/events", content=json.dumps(order("e1")), headers=headers["writer"])
    assert bare.status_code == 415
    response = await api.post(
        "/v1/events",
        content=json.dumps(order("e1")),
        headers=headers["writer"] | {"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.text


async def test_batch_accepts_valid_and_reports_invalid_by_index(
    api: AsyncClient, headers: dict, session: AsyncSession
) -> None:
    await api.post("/v1/events", json=order("e0", days_ago=40), headers=headers["writer"])
    batch = [
        order("e1", days_ago=30),
        order("e2", amount="-5"),
        order("e0", days_ago=40),  # duplicate of a stored event
        order("e3", client_id="beta", days_ago=3),
        order("e0", days_ago=40, amount="1.00"),  # conflicting body
        order("e3", client_id="beta", days_ago=3),  # duplicate inside the batch
    ]
    response = await api.post("/v1/events/batch", json=batch, headers=headers["writer"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 2, 2)
    assert [(e["index"], e["status"]) for e in body["errors"]] == [(1, 422), (4, 409)]
    assert body["errors"][0]["errors"][0]["field"] == "data.amount"
    assert await count(session, Event) == 3
    acme = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert acme["orders_count"] == 2


# Text a batch stores in a client's array and text columns: PostgreSQL's array-literal syntax
# (commas, braces, quotes, backslashes, NULL) and any other character but NUL.
_stored_text = (
    st.lists(
        st.sampled_from([",", "{", "}", '"', "\\", " ", "'", "NULL"])
        | st.characters(codec="utf-8", exclude_characters="\x00"),
        min_size=1,
        max_size=8,
    )
    .map("".join)
    .filter(str.strip)
)
_batch_examples = itertools.count()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    tags=st.lists(st.lists(_stored_text, max_size=4, unique=True), min_size=2, max_size=3),
    name=_stored_text,
)
async def test_a_batch_stores_each_clients_tags_and_name_as_sent(
    api: AsyncClient, headers: dict, tags: list[list[str]], name: str
) -> None:
    """A batch writes its clients in one set-based statement: every client's tags and name read
    back exactly as sent, whatever characters they hold."""
    example = next(_batch_examples)
    batch = [
        order(f"e{example}-{i}", client_id=f"c{example}-{i}")
        | {"client": {"name": f"{name} {i}", "tags": client_tags}}
        for i, client_tags in enumerate(tags)
    ]
    body = (await api.post("/v1/events/batch", json=batch, headers=headers["writer"])).json()
    assert body["accepted"] == len(tags), body
    for i, client_tags in enumerate(tags):
        client = (await api.get(f"/v1/clients/c{example}-{i}", headers=headers["reader"])).json()
        assert (client["tags"], client["name"]) == (client_tags, f"{name} {i}")


async def test_batch_over_the_limit_is_refused(api: AsyncClient, headers: dict) -> None:
    batch = [order(f"e{i}") for i in range(1001)]
    response = await api.post("/v1/events/batch", json=batch, headers=headers["writer"])
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"


async def test_late_event_rebuilds_state(api: AsyncClient, headers: dict) -> None:
    """An order older than what the client's facts assume triggers a re-fold, same result."""
    for i, days_ago in enumerate((10, 40, 70)):
        event = order(f"e{i}", days_ago=days_ago)
        assert (
            await api.post("/v1/events", json=event, headers=headers["writer"])
        ).status_code == 201
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["cycle_days"] == 30.0
    assert client["cycle_source"] == "own"
    assert client["orders_count"] == 3


async def test_cancel_removes_the_order(api: AsyncClient, headers: dict) -> None:
    await api.post("/v1/events", json=order("e1", days_ago=20), headers=headers["writer"])
    await api.post("/v1/events", json=order("e2", days_ago=5), headers=headers["writer"])
    cancel = {
        "id": "c1",
        "type": "order.cancelled",
        "occurred_at": (NOW - timedelta(days=4)).isoformat(),
        "client_id": "acme",
        "data": {"order_id": "o-e2"},
    }
    assert (await api.post("/v1/events", json=cancel, headers=headers["writer"])).status_code == 201
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["orders_count"] == 1
    assert client["last_order_at"].startswith((NOW - timedelta(days=20)).date().isoformat())


async def test_every_event_type_is_accepted(api: AsyncClient, headers: dict) -> None:
    base = {"client_id": "acme"}
    events = [
        {"type": "order.placed", "data": {"order_id": "o1", "amount": "10", "margin": "3"}},
        {"type": "order.refunded", "data": {"order_id": "o1", "amount": "2"}},
        {"type": "order.cancelled", "data": {"order_id": "o9"}},
        {"type": "request.created", "data": {"request_id": "r1", "channel": "quote"}},
        {"type": "request.converted", "data": {"request_id": "r1", "order_id": "o1"}},
        {"type": "request.lost", "data": {"request_id": "r2", "reason_code": "competitor_price"}},
        {
            "type": "contact.logged",
            "data": {"channel": "call", "direction": "outbound", "outcome": "no_answer"},
        },
        {
            "type": "feedback.received",
            "data": {"feedback_id": "f1", "kind": "complaint", "reason_code": "delivery_failure"},
        },
        {"type": "feedback.resolved", "data": {"feedback_id": "f1"}},
        {"type": "client.churned", "data": {"reason_code": "budget_cut"}},
        {"type": "client.updated", "client": {"tags": ["vip"]}},
    ]
    batch = [
        base
        | event
        | {"id": f"e{i}", "occurred_at": (NOW - timedelta(hours=3, minutes=-i)).isoformat()}
        for i, event in enumerate(events)
    ]
    body = (await api.post("/v1/events/batch", json=batch, headers=headers["writer"])).json()
    assert body["accepted"] == len(events), body
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["tags"] == ["vip"]
    assert client["lifetime_revenue"] == "8.00"
    assert client["status"] == "lost"  # the churn notice came after the last order


async def test_attributes_last_writer_wins_by_business_time(
    api: AsyncClient, headers: dict
) -> None:
    newer = order("e1", days_ago=1) | {"client": {"name": "New Name"}}
    older = order("e2", days_ago=9) | {"client": {"name": "Old Name", "phone": "+1"}}
    await api.post("/v1/events", json=newer, headers=headers["writer"])
    await api.post("/v1/events", json=older, headers=headers["writer"])
    client = (await api.get("/v1/clients/acme", headers=headers["reader"])).json()
    assert client["name"] == "New Name"
    assert client["phone"] == "+1"
