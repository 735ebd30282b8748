"""The churn engine: pure functions of a client's facts, the policy and `now` (SPEC §4)."""

from app.churn.engine import ClientState, Signal, evaluate
from app.churn.facts import ClientFacts, EventRecord, apply, summarize

__all__ = ["ClientFacts", "ClientState", "EventRecord", "Signal", "apply", "evaluate", "summarize"]
