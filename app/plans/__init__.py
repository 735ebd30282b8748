"""Recovery plans (SPEC §6): pure — decision, diagnosis, owner, urgency, steps, offer, economics.

`decide` is the cheap part the write path stores for list filters; `plan` is the whole plan the
`recovery-plan` endpoint returns. Neither does I/O or reads the clock.
"""

from app.domain import DECISIONS, Decision
from app.plans.decision import decide
from app.plans.plan import plan
from app.plans.profile import ClientProfile
from app.plans.schemas import RecoveryPlan

__all__ = ["DECISIONS", "ClientProfile", "Decision", "RecoveryPlan", "decide", "plan"]
