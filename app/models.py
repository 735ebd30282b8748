"""Imports every ORM model so Base.metadata knows all tables (for Alembic and tests)."""

from app.auth.models import ApiKey
from app.campaigns.models import Campaign, CampaignMember
from app.clients.models import Client, Erasure, StatusChange
from app.events.models import ErasedEvent, Event
from app.policy.models import PolicyRow
from app.population.models import ModelFitRow, PopulationStats
from app.reports.models import (
    EVENT_REASONS,
    EVENT_REASONS_RECEIVED,
    STATUS_CHANGE_ID,
    STATUS_CHANGE_MOVES,
    ChurnTally,
    LossTally,
    ReportTallyState,
)
from app.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent

__all__ = [
    "EVENT_REASONS",
    "EVENT_REASONS_RECEIVED",
    "STATUS_CHANGE_ID",
    "STATUS_CHANGE_MOVES",
    "ApiKey",
    "Campaign",
    "CampaignMember",
    "ChurnTally",
    "Client",
    "ErasedEvent",
    "Erasure",
    "Event",
    "LossTally",
    "ModelFitRow",
    "PolicyRow",
    "PopulationStats",
    "ReportTallyState",
    "StatusChange",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
]
