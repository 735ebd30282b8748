"""POST /v1/integrations/{shopify,woocommerce}/webhooks: verify the platform's signature over the
raw body, map the delivery to events (the platform's pure `to_events`), and hand them to the one
write path, `app.ingest.service.ingest`. Authenticated by the signature, not by an API key.

A signed delivery is answered 200 whatever became of its items (a platform disables an endpoint
that keeps failing): the answer and /metrics count what was accepted, a duplicate, a conflict
(the first recorded body is kept), ignored, unattributed (no client to give it to) or rejected.
"""

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionDep
from app.events.schemas import EnvelopeBase, event_adapter
from app.events.service import check
from app.ingest.service import ingest
from app.integrations import repository, shopify, woocommerce
from app.integrations.common import Known, Translation, parse_json
from app.integrations.signatures import parse_secrets, verify
from app.kit import metrics
from app.kit.deps import Now
from app.kit.problems import (
    PROBLEM_JSON,
    Problem,
    ProblemError,
    problem_responses,
    validation_problem,
)
from app.policy.dependencies import SnapshotDep
from app.policy.service import Snapshot

log = logging.getLogger("winback")

router = APIRouter(prefix="/v1/integrations", tags=["integrations"])
MAX_NOTES = 20


@dataclass(frozen=True)
class Platform:
    name: str
    title: str
    setting: str
    topic_header: str
    signature_header: str
    delivery_header: str
    topics: frozenset[str]
    needs: Callable[[str, Any], list[str]]
    to_events: Callable[..., Translation]

    @property
    def env(self) -> str:
        return f"WINBACK_{self.setting.upper()}"


SHOPIFY = Platform(
    "shopify",
    "Shopify",
    "shopify_webhook_secrets",
    "X-Shopify-Topic",
    "X-Shopify-Hmac-Sha256",
    "X-Shopify-Webhook-Id",
    shopify.TOPICS,
    shopify.needs,
    shopify.to_events,
)
WOOCOMMERCE = Platform(
    "woocommerce",
    "WooCommerce",
    "woocommerce_webhook_secrets",
    "X-WC-Webhook-Topic",
    "X-WC-Webhook-Signature",
    "X-WC-Webhook-Delivery-ID",
    woocommerce.TOPICS,
    woocommerce.needs,
    woocommerce.to_events,
)


class WebhookSummary(BaseModel):
    """What winback made of one delivery. Every count is of items: events derived from the
    payload, or parts of it skipped."""

    platform: str
    topic: str = Field(description="the delivery's topic header (`ping` for WooCommerce's ping)")
    accepted: int = Field(default=0, description="events recorded now")
    duplicates: int = Field(default=0, description="events already recorded with the same body")
    conflicts: int = Field(
        default=0,
        description="events already recorded with another body (e.g. an order edited after it "
        "was recorded): the first recorded body is kept",
    )
    ignored: int = Field(default=0, description="topics, statuses or parts winback does not read")
    unattributed: int = Field(
        default=0, description="items with no client: a guest without an email"
    )
    rejected: int = Field(
        default=0, description="items winback cannot store, e.g. another currency"
    )
    notes: list[str] = Field(
        default_factory=list, description="why items were skipped or rejected (at most 20)"
    )

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "platform": "shopify",
                    "topic": "orders/create",
                    "accepted": 2,
                    "duplicates": 0,
                    "conflicts": 0,
                    "ignored": 0,
                    "unattributed": 0,
                    "rejected": 0,
                    "notes": [],
                }
            ]
        }
    }


def _count(platform: Platform, topic: str, outcome: str, amount: int = 1) -> None:
    label = topic if topic in platform.topics else "other"  # the header is the sender's text
    metrics.WEBHOOK_ITEMS.labels(platform.name, label, outcome).inc(amount)


def _not_configured(platform: Platform) -> ProblemError:
    return ProblemError(
        503,
        "Integration not configured",
        f"no {platform.title} webhook secret is configured: set {platform.env} to the signing "
        "secret the store shows (docs/integrations.md)",
        slug="integration-not-configured",
    )


def _bad_signature(platform: Platform, given: str | None) -> ProblemError:
    detail = (
        f"the {platform.signature_header} header is missing"
        if not given
        else f"the {platform.signature_header} signature does not match the body under any "
        f"configured secret ({platform.env})"
    )
    return ProblemError(401, "Unauthorized", detail, slug="invalid-signature")


async def _receive(
    platform: Platform,
    body: bytes,
    request: Request,
    session: AsyncSession,
    snapshot: Snapshot,
    now: datetime,
) -> WebhookSummary:
    topic = (request.headers.get(platform.topic_header) or "").strip()
    signature = request.headers.get(platform.signature_header)
    delivery = request.headers.get(platform.delivery_header)
    secrets = parse_secrets(getattr(request.app.state.settings, platform.setting))
    if not secrets:
        _count(platform, topic, "not_configured")
        raise _not_configured(platform)
    if not verify(body, signature, secrets):
        _count(platform, topic, "unauthorized")
        raise _bad_signature(platform, signature)
    summary = WebhookSummary(platform=platform.name, topic=topic[:100])
    if topic not in platform.topics:
        log.info("%s webhook %s: topic %r ignored", platform.name, delivery, topic[:100])
        _count(platform, topic, "ignored")
        summary.ignored = 1
        summary.notes.append(f"topic {topic[:100]!r} is not one winback reads")
        return summary
    try:
        payload = parse_json(body)
    except (ValueError, RecursionError):
        _count(platform, topic, "malformed")
        raise ProblemError(
            400, "Malformed JSON", "the body is not valid JSON", slug="malformed-json"
        ) from None

    known: Mapping[str, Known] = await repository.placed_orders(
        session, platform.needs(topic, payload)
    )
    translation = platform.to_events(topic, payload, currency=snapshot.policy.currency, known=known)
    for skipped in translation.skipped:
        _note(summary, skipped.reason, skipped.detail)
        _count(platform, topic, skipped.reason)
    valid: list[tuple[int, EnvelopeBase]] = []
    for index, raw in enumerate(translation.events):
        try:
            envelope = event_adapter.validate_python(raw)
        except ValidationError as exc:
            reasons = validation_problem(exc.errors()).detail
            _note(summary, "rejected", f"{raw.get('id')}: {reasons}")
            _count(platform, topic, "rejected")
            continue
        problem = check(envelope, snapshot.policy, now)
        if problem is not None:
            _note(summary, "rejected", f"{envelope.id}: {problem.detail}")
            _count(platform, topic, "rejected")
            continue
        valid.append((index, envelope))

    types = {index: envelope.type for index, envelope in valid}  # type: ignore[attr-defined]
    for outcome in await ingest(session, valid, snapshot, now):
        metrics.EVENTS.labels(types[outcome.index], outcome.kind).inc()
        _count(platform, topic, outcome.kind)
        if outcome.kind == "accepted":
            summary.accepted += 1
        elif outcome.kind == "duplicate":
            summary.duplicates += 1
        else:
            summary.conflicts += 1
            summary.notes.append(f"{outcome.id}: already recorded with another body; kept")
            log.info(
                "%s webhook %s: event %s already recorded with another body; the first is kept",
                platform.name,
                delivery,
                outcome.id,
            )
    del summary.notes[MAX_NOTES:]
    return summary


def _note(summary: WebhookSummary, reason: str, detail: str) -> None:
    setattr(summary, reason, getattr(summary, reason) + 1)
    summary.notes.append(f"{reason}: {detail}")
    if reason == "rejected":
        log.warning("%s webhook %s: rejected %s", summary.platform, summary.topic, detail)


def _webhook_responses() -> dict[int | str, dict[str, Any]]:
    return {
        **problem_responses(400, 401, 413),
        503: {
            "model": Problem,
            "content": {PROBLEM_JSON: {}},
            "description": "No signing secret is configured for this platform",
        },
    }


def _header(name: str, description: str, required: bool = True) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string"},
    }


def _operation(
    platform: Platform, example: dict[str, Any], form: str | None = None
) -> dict[str, Any]:
    """The raw body and the platform's headers, read by hand (the signature covers the exact
    bytes), and no security requirement: the signature is the authentication."""
    parameters = [
        _header(platform.topic_header, "the topic, e.g. `orders/create` or `order.updated`"),
        _header(
            platform.signature_header,
            f"base64 HMAC-SHA256 of the raw body under a secret of {platform.env}"
            + ("; absent on the activation ping" if form else ""),
        ),
        _header(platform.delivery_header, "the delivery's id (logged)", required=False),
    ]
    return {"parameters": parameters, **_body(example, form)}


def _body(example: dict[str, Any], form: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {
        "application/json": {"schema": {"type": "object"}, "example": example}
    }
    if form is not None:
        content["application/x-www-form-urlencoded"] = {
            "schema": {"type": "string"},
            "example": form,
        }
    return {"requestBody": {"required": True, "content": content}, "security": []}


SHOPIFY_EXAMPLE = {
    "id": 5678901234567890123,
    "email": "ann@example.com",
    "created_at": "2026-03-01T10:00:00-05:00",
    "cancelled_at": None,
    "currency": "EUR",
    "total_price": "120.00",
    "total_price_set": {"shop_money": {"amount": "120.00", "currency_code": "EUR"}},
    "customer": {
        "id": 9007199254740993,
        "email": "ann@example.com",
        "first_name": "Ann",
        "last_name": "Lee",
        "tags": "wholesale, north",
        "updated_at": "2026-03-01T10:00:00-05:00",
    },
    "refunds": [],
}
WOOCOMMERCE_EXAMPLE = {
    "id": 727,
    "status": "processing",
    "currency": "EUR",
    "date_created_gmt": "2026-03-01T15:00:00",
    "date_modified_gmt": "2026-03-01T15:00:00",
    "total": "120.00",
    "customer_id": 0,
    "billing": {"first_name": "Ann", "last_name": "Lee", "email": "ann@example.com"},
    "refunds": [],
}

_NO_KEY = (
    "Authenticated by the platform's signature, not by an API key: no `Authorization` header is "
    "needed or read. "
)


@router.post(
    "/shopify/webhooks",
    summary="Receive a Shopify webhook",
    description=(
        _NO_KEY + "`X-Shopify-Hmac-Sha256` must be the base64 HMAC-SHA256 of the raw body under "
        "a secret in `WINBACK_SHOPIFY_WEBHOOK_SECRETS` (several during a rotation). Topics read "
        "(`X-Shopify-Topic`): `orders/create`, `orders/paid`, `orders/updated`, "
        "`orders/cancelled`, `refunds/create`, `customers/create`, `customers/update`; any "
        "other topic is answered 200 and ignored. The order becomes `order.placed` (and "
        "`order.cancelled`, `order.refunded`) for client `shopify:<customer id>`, or "
        "`shopify:email:<email>` for a guest; event ids come from the facts, so redeliveries "
        "and out-of-order deliveries are applied once. A signed delivery is answered 200 with "
        "counts, whatever became of its items (docs/integrations.md).\n\n"
        "Errors: 401 when the signature is missing or wrong (nothing is stored); 400 when a "
        "signed body is not JSON; 413 over the body limit; 503 when no secret is configured."
    ),
    response_model=WebhookSummary,
    responses=_webhook_responses(),
    openapi_extra=_operation(SHOPIFY, SHOPIFY_EXAMPLE),
)
async def shopify_webhook(
    request: Request, session: SessionDep, snapshot: SnapshotDep, now: Now
) -> WebhookSummary:
    body = await request.body()
    return await _receive(SHOPIFY, body, request, session, snapshot, now)


@router.post(
    "/woocommerce/webhooks",
    summary="Receive a WooCommerce webhook",
    description=(
        _NO_KEY + "`X-WC-Webhook-Signature` must be the base64 HMAC-SHA256 of the raw body "
        "under a secret in `WINBACK_WOOCOMMERCE_WEBHOOK_SECRETS`. Topics read "
        "(`X-WC-Webhook-Topic`): `order.created`, `order.updated`, `order.deleted`, "
        "`order.restored`. Statuses `processing`, `completed` and `refunded` make an "
        "`order.placed`; `cancelled`, `failed` and `trash` (and a deletion) an "
        "`order.cancelled`; each entry of `refunds` an `order.refunded`. The client is "
        "`woo:<customer_id>`, or `woo:email:<billing email>` for a guest. The unsigned "
        "activation ping (form body `webhook_id=N`) is answered 200 and stores nothing "
        "(docs/integrations.md).\n\n"
        "Errors: 401 when the signature is missing or wrong (nothing is stored); 400 when a "
        "signed body is not JSON; 413 over the body limit; 503 when no secret is configured."
    ),
    response_model=WebhookSummary,
    responses=_webhook_responses(),
    openapi_extra=_operation(WOOCOMMERCE, WOOCOMMERCE_EXAMPLE, form="webhook_id=12"),
)
async def woocommerce_webhook(
    request: Request, session: SessionDep, snapshot: SnapshotDep, now: Now
) -> WebhookSummary:
    body = await request.body()
    if not request.headers.get(WOOCOMMERCE.signature_header) and woocommerce.is_ping(body):
        _count(WOOCOMMERCE, "ping", "ping")
        return WebhookSummary(platform=WOOCOMMERCE.name, topic="ping")
    return await _receive(WOOCOMMERCE, body, request, session, snapshot, now)
