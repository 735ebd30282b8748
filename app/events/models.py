"""Events: immutable facts, stored forever (until the client is erased)."""

from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base


class Event(Base):
    __tablename__ = "event"

    # the sender's id is the idempotency key across all clients (SPEC §2)
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(128))
    type: Mapped[str] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the validated envelope in canonical JSON form, and its SHA-256 for the 409 comparison
    body: Mapped[dict[str, Any]] = mapped_column(JSONB)
    body_sha256: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )

    __table_args__ = (Index("ix_event_client_occurred", "client_id", "occurred_at", "id"),)


class ErasedEvent(Base):
    """The hashed id of an event whose client was erased. A trigger on `event` (migration
    2026_11_29_0810) skips inserting such an id, so a retried webhook cannot recreate the client."""

    __tablename__ = "erased_event"

    id_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
