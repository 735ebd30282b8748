"""GET /v1/clients/{client_id}/recovery-plan: the shell around the pure planner (app.plans)."""

from fastapi import APIRouter

from app.auth.dependencies import ClientsReader
from app.clients import service
from app.clients.params import AsOf, ClientIdPath
from app.db import SessionDep
from app.kit.deps import Now
from app.kit.problems import problem_responses
from app.plans import plan
from app.plans.schemas import RecoveryPlan
from app.policy.dependencies import SnapshotDep

router = APIRouter(prefix="/v1", tags=["plans"])


@router.get(
    "/clients/{client_id}/recovery-plan",
    response_model=RecoveryPlan,
    summary="Who to win back, why they left, and how: the client's recovery plan",
    description=(
        "A pure function of the client's history, attributes and the policy, evaluated now or "
        "`as_of` a past moment. `decision` says whether to act (`retain` for at-risk clients; "
        "`return_first`, `should_return`, `return_if_possible` for lost ones) or not "
        "(`no_action`, `let_go`), and every rule that decided it is in `decision_reasons`. "
        "The plan also says why the client left, who should act, the offer and its economics, "
        "and the steps to take. `p_return` is the policy's band until 30 similar clients "
        "(tier, market, lapse band) went through closed campaigns; then it is their observed "
        "win-back rate, and the `p_return` reason says so.\n\n"
        "Errors: 404 when no client has this id; 422 when `as_of` is in the future or has no "
        "time zone."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def recovery_plan(
    client_id: ClientIdPath,
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    _: ClientsReader,
    as_of: AsOf = None,
) -> RecoveryPlan:
    found = await service.evaluated_client(session, client_id, snapshot, now, as_of)
    profile = found.profile()
    # observed win-back rates of closed campaigns for this kind of client (p_return from evidence)
    evidence = await service.return_evidence(
        session, snapshot.policy, (profile.tier, profile.market), as_of
    )
    state, policy = found.assessment.state, snapshot.policy
    p_alive = found.assessment.scores.p_alive  # the model's floor of p_return
    return plan(profile, state, found.facts, policy, found.moment, evidence, p_alive)
