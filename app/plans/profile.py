"""What the planner needs to know about a client beyond its events: its attributes (SPEC §1)."""

from __future__ import annotations

from dataclasses import dataclass

from app.domain import Market, Tier


@dataclass(frozen=True, slots=True)
class ClientProfile:
    client_id: str
    name: str | None = None
    market: Market = "b2b"
    manager_id: str | None = None  # the account owner now
    advocate: bool = False  # recommends us / refers others: a C is treated as B
    problem_client: bool = False  # chronic late payer, costs more than it brings
    do_not_contact: bool = False
    tier: Tier | None = None  # None until the first tier refresh
