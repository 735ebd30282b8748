"""GET /v1/clients/{client_id}/recovery-plan: the shell around the pure `plan`."""

from fastapi import APIRouter

from app.auth.dependencies import ClientsReader
from app.clients import service as clients_service
from app.clients.endpoints import AsOf, ClientIdPath, evaluated_client
from app.db import ReadSessionDep
from app.kit.deps import Now, ReadSnapshot
from app.kit.problems import problem_responses
from app.plans.plan import plan
from app.plans.schemas import RecoveryPlan

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
        "and the steps to take.\n\n"
        "Errors: 404 when no client has this id; 422 when `as_of` is in the future or has no "
        "time zone."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def recovery_plan(
    client_id: ClientIdPath,
    session: ReadSessionDep,
    snapshot: ReadSnapshot,
    now: Now,
    _: ClientsReader,
    as_of: AsOf = None,
) -> RecoveryPlan:
    client, facts, assessment, moment = await evaluated_client(
        session, client_id, snapshot, now, as_of
    )
    profile = clients_service.profile_of(clients_service.row_attributes(client), assessment.tier)
    return plan(profile, assessment.state, facts, snapshot.policy, moment)
