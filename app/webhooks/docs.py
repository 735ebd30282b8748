"""The OpenAPI document's `webhooks` section: every message winback sends, with an example.

Documentation only (FastAPI's `app.webhooks`): what a receiver is POSTed. `campaign.created`
carries the campaign as `GET /v1/campaigns/{id}` returns it: its schema is referred to by name
(`CampaignRead`, which the campaign responses put in the document), since the campaigns package
sits above this one.
"""

from typing import Any, Literal

from fastapi import FastAPI

from app.webhooks.schemas import (
    Payload,
    StatusChangedPayload,
    TestPayload,
    TierChangedPayload,
)

HEADERS = (
    "Sent as a POST with `content-type: application/json` and the Standard Webhooks headers: "
    "`webhook-id` (the message's id: the same on every retry and replay, so a receiver can skip "
    "one it has processed), `webhook-timestamp` (Unix seconds, when this attempt was sent) and "
    "`webhook-signature` (`v1,<base64 HMAC-SHA256 of '{id}.{timestamp}.{body}'>` with the "
    "endpoint's secret; two, space-separated, during a secret rotation). Verify with any "
    "Standard Webhooks library. Any 2xx within 15 s acknowledges; anything else is retried "
    "(immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h, with jitter; `Retry-After` "
    "honoured on 429 and 503); 410 disables the endpoint."
)

STATUS_CHANGED_EXAMPLE: dict[str, Any] = {
    "type": "client.status_changed",
    "timestamp": "2026-11-23T12:00:00.000000Z",
    "data": {
        "client_id": "b2b-02424",
        "from": "active",
        "to": "at_risk",
        "at": "2026-11-21T08:00:00Z",
        "signals": ["lapsed", "dissatisfied"],
        "tier": "A",
        "value": "265596.19",
        "market": "b2b",
        "manager_id": "m-07",
        "decision": "retain",
    },
}
TIER_CHANGED_EXAMPLE: dict[str, Any] = {
    "type": "client.tier_changed",
    "timestamp": "2026-11-23T12:00:00.000000Z",
    "data": {
        "client_id": "ana.k",
        "from": "B",
        "to": "A",
        "value": "1840.50",
        "status": "active",
        "market": "b2c",
    },
}
CAMPAIGN_CREATED_EXAMPLE: dict[str, Any] = {
    "type": "campaign.created",
    "timestamp": "2026-11-23T12:00:00.000000Z",
    "data": {
        "id": "cmp_2026_q4_lost_a",
        "name": "Q4 win-back: lost tier A",
        "status": "running",
        "segment": {"status": ["lost"], "tier": ["A"]},
        "holdout_pct": 10.0,
        "attribution_days": 60,
        "include_in_other_campaigns": False,
        "started_at": "2026-11-23T12:00:00Z",
        "attribution_ends_at": "2027-01-22T12:00:00Z",
        "closed_at": None,
        "outcomes_recorded": False,
        "policy_version": 3,
        "members": {"total": 42, "treatment": 38, "holdout": 4},
        "value_at_stake": {"total": "512400.00", "treatment": "466880.00", "holdout": "45520.00"},
        "expected_value": "58210.00",
    },
}
TEST_EXAMPLE: dict[str, Any] = {
    "type": "webhook.test",
    "timestamp": "2026-11-23T12:00:00.000000Z",
    "data": {"endpoint_id": "we_3f9a1c0d5e7b2a48", "message": "a test message from winback"},
}


class CampaignCreatedPayload(Payload):
    type: Literal["campaign.created"]
    data: dict[str, Any]  # the campaign: its schema is the API's CampaignRead (see _schemas)


# a message's data whose schema the API's own responses already put in the document
DATA_SCHEMAS = {"campaign.created": "CampaignRead"}


EXAMPLES: dict[str, tuple[type[Payload], dict[str, Any]]] = {
    "client.status_changed": (StatusChangedPayload, STATUS_CHANGED_EXAMPLE),
    "client.tier_changed": (TierChangedPayload, TIER_CHANGED_EXAMPLE),
    "campaign.created": (CampaignCreatedPayload, CAMPAIGN_CREATED_EXAMPLE),
    "webhook.test": (TestPayload, TEST_EXAMPLE),
}
ACKNOWLEDGED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Any 2xx acknowledges the message"}
}
DESCRIPTIONS = {
    "client.status_changed": (
        "A client's status moved",
        "A client turned `at_risk`, was `lost`, came back (`recovered`), ... on a write, as time "
        "passed (the worker's sweep), or after a policy change; `from` is null for a new "
        "client's first status. `at` is when it moved in business time (e.g. the day the lost "
        "line was crossed); `signals`, `tier`, `value` and `decision` are the client's after the "
        "move. No personal data beyond the client id.",
    ),
    "client.tier_changed": (
        "A client's value tier moved",
        "The client's tier (A, B, C by Pareto share of value) changed: its value moved, or the "
        "population's cut points did at the worker's refresh. `from` is null for a client's "
        "first tier, `to` null when it no longer has one.",
    ),
    "campaign.created": (
        "A campaign was created",
        "A win-back campaign started: `data` is the campaign as `GET /v1/campaigns/{id}` returns "
        "it; its members are at `GET /v1/campaigns/{id}/members` (CSV for a CRM).",
    ),
    "webhook.test": (
        "A test message (POST /v1/webhook-endpoints/{id}/test)",
        "Sent to one endpoint when an admin asks for a test, whatever its event types.",
    ),
}


def _refs(schema: Any) -> list[str]:
    """The component names a schema refers to."""
    if isinstance(schema, dict):
        found = [schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else []
        return found + [ref for value in schema.values() for ref in _refs(value)]
    if isinstance(schema, list):
        return [ref for value in schema for ref in _refs(value)]
    return []


def _schemas(document: dict[str, Any]) -> None:
    """Each message's body as winback serialises it (a message is output, like a response:
    money as decimal strings), added to the components with the models it refers to."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name, (model, example) in EXAMPLES.items():
        schema = model.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        )
        if name in DATA_SCHEMAS:
            schema["properties"]["data"] = {"$ref": f"#/components/schemas/{DATA_SCHEMAS[name]}"}
        definitions = {**schema.pop("$defs", {}), model.__name__: schema}
        # the messages' own models are added with what they refer to; a model the API already
        # shows is referred to as it is
        waiting = [model.__name__]
        while waiting:
            ref = waiting.pop()
            if ref not in components:
                components[ref] = definitions[ref]
                waiting += _refs(definitions[ref])
        operation = document["webhooks"][name]["post"]
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": f"#/components/schemas/{model.__name__}"},
                    "examples": {"example": {"summary": name, "value": example}},
                }
            },
        }


def install(app: FastAPI) -> None:
    """Declare the messages on `app.webhooks`, and their bodies once the document is built (a
    body parameter would make FastAPI describe them as input, i.e. as sent to winback).
    Call after `app.kit.docs.install`, which owns `app.openapi`."""
    for name, (summary, description) in DESCRIPTIONS.items():

        async def message() -> None:
            """Documentation only: what winback POSTs to an endpoint."""

        app.webhooks.add_api_route(
            name,
            message,
            methods=["POST"],
            summary=summary,
            description=f"{description}\n\n{HEADERS}",
            responses=ACKNOWLEDGED,
            operation_id=f"webhook_{name.replace('.', '_')}",
        )
    built = app.openapi

    def openapi() -> dict[str, Any]:
        document = built()
        _schemas(document)  # idempotent: the same schemas and bodies every time
        return document

    app.openapi = openapi  # type: ignore[method-assign]
