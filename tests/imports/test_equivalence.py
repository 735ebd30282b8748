"""The bulk path stores what the API stores: for random small histories (a few clients; orders,
cancels, refunds, contacts, attribute updates, churn notices; ties in time), some events already
live, the rest imported from a shuffled file in small chunks, every stored column and the status
history equal those of the same events posted through `POST /v1/events/batch` in another order,
into another namespace of client and event ids of the same database."""

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

from httpx import AsyncClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import NOW
from tests.imports.files import write_jsonl
from tests.imports.helpers import run_import, stored_state

CLIENTS = ("c1", "c2", "c3")
ORDERS = ("o1", "o2", "o3", "o4")
NAMESPACES = itertools.count()


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    events = []
    for n in range(draw(st.integers(1, 14))):
        client_id = draw(st.sampled_from(CLIENTS))
        # whole days and a few hours: ties in time happen (then the event id orders them)
        at = NOW - timedelta(days=draw(st.integers(0, 700)), hours=draw(st.sampled_from([0, 6])))
        kind = draw(
            st.sampled_from(
                ["order.placed"] * 4
                + ["order.cancelled", "order.refunded", "contact.logged", "client.updated"]
                + ["client.churned"]
            )
        )
        data: dict[str, Any] = {}
        if kind == "order.placed":
            data = {
                "order_id": draw(st.sampled_from(ORDERS)),
                "amount": f"{draw(st.integers(0, 900))}.50",
            }
        elif kind == "order.cancelled":
            data = {"order_id": draw(st.sampled_from(ORDERS))}
        elif kind == "order.refunded":
            data = {
                "order_id": draw(st.sampled_from(ORDERS)),
                "amount": str(draw(st.integers(1, 300))),
            }
        elif kind == "contact.logged":
            data = {
                "channel": "call",
                "direction": draw(st.sampled_from(["outbound", "inbound"])),
                "outcome": draw(st.sampled_from(["reached", "no_answer", "bounced", "opened"])),
            }
        elif kind == "client.churned" and draw(st.booleans()):
            data = {"reason_code": "competitor_price"}
        event: dict[str, Any] = {
            "id": f"e{n:02d}",
            "type": kind,
            "occurred_at": at.isoformat(),
            "client_id": client_id,
            "data": data,
        }
        if kind == "client.updated" or draw(st.integers(0, 3)) == 0:
            event["client"] = draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "name": st.sampled_from(["Acme", "Acme Ltd"]),
                        "manager_id": st.sampled_from(["m-1", "m-2", None]),
                        "market": st.sampled_from(["b2b", "b2c"]),
                        "tags": st.sampled_from([["a"], ["a", "b"]]),
                    },
                ).filter(bool)
            )
        events.append(event)
    return events


def named(event: dict[str, Any], prefix: str) -> dict[str, Any]:
    return {**event, "id": prefix + event["id"], "client_id": prefix + event["client_id"]}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    history=histories(),
    data=st.data(),
)
async def test_imported_state_equals_the_api_state(
    history: list[dict[str, Any]],
    data: st.DataObject,
    tmp_path: Path,
    committed: async_sessionmaker[AsyncSession],
    committed_api: AsyncClient,
    headers: dict[str, dict[str, str]],
) -> None:
    live = data.draw(st.lists(st.booleans(), min_size=len(history), max_size=len(history)))
    resend = data.draw(st.lists(st.booleans(), min_size=len(history), max_size=len(history)))
    before = [e for e, first in zip(history, live, strict=True) if first]
    rest = [e for e, first in zip(history, live, strict=True) if not first]
    again = [e for e, first, twice in zip(history, live, resend, strict=True) if first and twice]
    later = rest + again
    file_order = data.draw(st.permutations(later))
    api_order = data.draw(st.permutations(later))
    chunk = data.draw(st.integers(1, 4))

    k = next(NAMESPACES)
    bulk, api = f"n{k}i-", f"n{k}a-"  # the same length: ids sort alike in both namespaces

    async def post(events: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
        response = await committed_api.post(
            "/v1/events/batch", json=[named(e, prefix) for e in events], headers=headers["writer"]
        )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert answer["rejected"] == 0, answer["errors"]
        return answer

    if before:  # already live in both namespaces
        await post(before, bulk)
        await post(before, api)
    if later:  # (an empty file is refused: nothing to import)
        path = write_jsonl(tmp_path / f"history-{k}.jsonl", [named(e, bulk) for e in file_order])
        summary = await run_import(committed, path, finish=False, chunk_events=chunk)
        answer = await post(api_order, api)
        assert (summary.accepted, summary.duplicates) == (answer["accepted"], answer["duplicates"])
        assert (summary.accepted, summary.duplicates, summary.rejected) == (
            len(rest),
            len(again),
            0,
        )

    imported = await stored_state(committed, f"{bulk}%", [(bulk, "X-")])
    posted = await stored_state(committed, f"{api}%", [(api, "X-")])
    assert imported == posted
    assert set(imported) == {f"X-{e['client_id']}" for e in history}
