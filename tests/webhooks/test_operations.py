"""What an operator sees: /metrics has the backlog's size and age and the attempts by outcome;
/readyz reports a backlog older than the configured limit; the OpenAPI document describes every
message in its `webhooks` section, with examples that are valid payloads."""

import json
import re
from datetime import timedelta

from httpx import ASGITransport, AsyncClient
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.campaigns.schemas import CampaignRead
from app.openapi_doc import generate
from app.webhooks.docs import EXAMPLES
from app.webhooks.schemas import EVENT_TYPES
from tests.conftest import NOW, Clock, build_app
from tests.webhooks.conftest import DEVELOPMENT, Headers, deliverer, order, post, register
from tests.webhooks.receiver import Receiver, Reply


def gauge(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, name
    return float(match.group(1))


def counter(text: str, outcome: str) -> float:
    match = re.search(rf'^winback_webhook_attempts_total{{outcome="{outcome}"}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


async def test_metrics_show_the_backlog_and_the_attempts_by_outcome(
    hooks_api: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    before = (await hooks_api.get("/metrics")).text
    await register(hooks_api, headers, receiver.url)
    receiver.answer(Reply(500))
    await post(hooks_api, headers, order("acme", 1, 3), order("bolt", 1, 3))
    clock.now = NOW + timedelta(seconds=90)
    waiting = (await hooks_api.get("/metrics")).text
    assert gauge(waiting, "winback_webhook_backlog") == 2  # not dispatched yet
    assert gauge(waiting, "winback_webhook_backlog_age_seconds") == 90
    async with deliverer(committed, clock, webhook_concurrency=1) as worker:
        await worker.drain()
    after = (await hooks_api.get("/metrics")).text
    assert gauge(after, "winback_webhook_backlog") == 0
    assert gauge(after, "winback_webhook_backlog_age_seconds") == 0
    assert gauge(after, "winback_webhook_retries_scheduled") == 1
    assert counter(after, "delivered") - counter(before, "delivered") == 1
    assert counter(after, "http_error") - counter(before, "http_error") == 1


async def test_readyz_reports_a_backlog_older_than_the_limit(
    engine: AsyncEngine,
    hooks_api: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    await post(hooks_api, headers, order("acme", 1, 3))
    clock.now = NOW + timedelta(minutes=5)
    ready = await hooks_api.get("/readyz")
    assert (ready.status_code, ready.json()["status"]) == (200, "ok")
    assert ready.json()["webhook_backlog_age_seconds"] == 300
    clock.now = NOW + timedelta(minutes=15)  # no worker has sent it: over the 10 minutes
    behind = await hooks_api.get("/readyz")
    assert behind.status_code == 503
    assert behind.json()["status"] == "webhook backlog behind"
    assert behind.json()["webhook_backlog_age_seconds"] == 900

    unlimited = build_app(engine, committed, clock, webhook_backlog_max_age_seconds=0)
    async with AsyncClient(transport=ASGITransport(app=unlimited), base_url="http://t") as other:
        answer = await other.get("/readyz")
    assert answer.status_code == 200 and "webhook_backlog_age_seconds" not in answer.json()

    async with deliverer(committed, clock) as worker:
        await worker.drain()
    assert (await hooks_api.get("/readyz")).status_code == 200


def test_the_openapi_document_describes_every_message_with_a_valid_example() -> None:
    document = generate()
    webhooks = document["webhooks"]
    assert sorted(webhooks) == sorted([*EVENT_TYPES, "webhook.test"])
    for name, operation in webhooks.items():
        post = operation["post"]
        assert post["summary"] and "webhook-signature" in post["description"]
        content = post["requestBody"]["content"]["application/json"]
        [example] = content["examples"].values()
        model, documented = EXAMPLES[name]
        assert example["value"] == documented
        assert model.model_validate(documented).type == name
        schema = content["schema"]["$ref"].rsplit("/", 1)[1]
        assert schema == model.__name__
    # every schema a message refers to is in the document (the campaign as responses show it)
    text = json.dumps(document)
    for ref in set(re.findall(r'"#/components/schemas/([^"]+)"', text)):
        assert ref in document["components"]["schemas"], ref
    data = document["components"]["schemas"]["CampaignCreatedPayload"]["properties"]["data"]
    assert data == {"$ref": "#/components/schemas/CampaignRead"}
    CampaignRead.model_validate(EXAMPLES["campaign.created"][1]["data"])  # what it refers to


def test_development_settings_are_what_the_tests_use() -> None:
    assert DEVELOPMENT == {"webhook_allow_http": True, "webhook_allowed_networks": "127.0.0.1/32"}
