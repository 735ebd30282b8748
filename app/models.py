"""Imports every ORM model so Base.metadata knows all tables (for Alembic and tests)."""

from app.auth.models import ApiKey
from app.clients.models import Client, Erasure, StatusChange
from app.events.models import ErasedEvent, Event
from app.policy.models import PolicyRow
from app.population.models import PopulationStats

__all__ = [
    "ApiKey",
    "Client",
    "ErasedEvent",
    "Erasure",
    "Event",
    "PolicyRow",
    "PopulationStats",
    "StatusChange",
]
