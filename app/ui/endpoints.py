"""The dashboard's routes (/ui): parse, call app.ui.service or the API's services, render.

None of them is in the OpenAPI document. `install(app)` mounts the router and the static files
and renders the errors of /ui paths as pages (sign-in redirects, 403, 404, 422) instead of
problem documents.
"""

import secrets
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal, get_args
from urllib.parse import quote, urlencode

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth.service import find
from app.campaigns import service as campaigns
from app.campaigns.endpoints import CampaignIdPath
from app.campaigns.schemas import Group
from app.clients import service as clients
from app.clients.endpoints import XYZ_CLASSES, Sort
from app.clients.params import ClientIdPath
from app.clients.repository import ClientFilter
from app.db import SessionDep
from app.domain import DECISIONS, MARKETS, SIGNAL_CODES, STATUSES, TIERS
from app.kit import csv
from app.kit.deps import Now
from app.kit.problems import ProblemError, invalid
from app.kit.text import check_text
from app.policy import service as policies
from app.policy.dependencies import SnapshotDep
from app.policy.schemas import Policy
from app.ui import pages, service
from app.ui import session as cookies
from app.ui.dependencies import (
    CsrfRejected,
    FormViewer,
    MaybeViewer,
    ScopeMissing,
    SignInRequired,
    Viewer,
    ViewerDep,
    cookie_secret,
    require,
)

router = APIRouter(prefix="/ui", include_in_schema=False)
STATIC_URL = "/ui/static"
SIGN_IN_COOKIE = "winback_sign_in"  # double-submit token of the sign-in form (login CSRF)
SORTS: tuple[str, ...] = get_args(Sort)
PAGE_SIZES = (25, 50, 100, 200)


def _page(request: Request, template: str, viewer: Viewer | None, **context: Any) -> Response:
    snapshot_currency = context.pop("currency", None)
    return pages.render(
        request,
        template,
        {"viewer": viewer, "currency": snapshot_currency or "EUR", **context},
    )


# --- sign in and out ------------------------------------------------------------------------


@router.get("/sign-in")
async def sign_in_form(request: Request, found: MaybeViewer, next: str | None = None) -> Response:
    target = cookies.safe_next(next)
    if found is not None:
        return RedirectResponse(target, status_code=303)
    return _sign_in_page(request, target, None, 200)


def _sign_in_page(request: Request, target: str, error: str | None, status: int) -> Response:
    token = secrets.token_urlsafe(16)
    response = pages.render(
        request,
        "sign_in.html",
        {"viewer": None, "next": target, "error": error, "form_token": token},
        status_code=status,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        token,
        max_age=900,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/sign-in")
async def sign_in(
    request: Request,
    session: SessionDep,
    now: Now,
    key: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/ui",
    form_token: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    target = cookies.safe_next(next)
    expected = request.cookies.get(SIGN_IN_COOKIE) or ""
    # as bytes: compare_digest refuses str with non-ASCII characters (a forged form)
    if not form_token or not secrets.compare_digest(expected.encode(), form_token.encode()):
        return _sign_in_page(request, target, "The form expired; please sign in again.", 403)
    settings = request.app.state.settings
    principal = await find(session, key.strip(), settings.admin_key) if key.strip() else None
    if principal is None:
        return _sign_in_page(request, target, "That key is unknown or revoked.", 401)
    secret = cookie_secret(request)
    fingerprint = None
    if principal.key_id == cookies.ENV_ADMIN:
        fingerprint = cookies.fingerprint(secret, settings.admin_key)
    new = cookies.new_session(principal.key_id, now, fingerprint)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        cookies.COOKIE_NAME,
        cookies.encode(secret, new),
        max_age=cookies.SESSION_SECONDS,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/ui")
    return response


@router.post("/sign-out")
async def sign_out(_: FormViewer) -> Response:
    response = RedirectResponse("/ui/sign-in", status_code=303)
    response.delete_cookie(cookies.COOKIE_NAME, path="/ui", httponly=True, samesite="strict")
    return response


# --- overview -------------------------------------------------------------------------------


@router.get("")
async def overview(
    request: Request, session: SessionDep, snapshot: SnapshotDep, now: Now, viewer: ViewerDep
) -> Response:
    cache: service.FiguresCache[service.Overview] = request.app.state.ui_overview
    found = await cache.get(
        session,
        request.app.state.sessionmaker,
        lambda in_session: service.overview(in_session, snapshot, now),
    )
    return _page(
        request,
        "overview.html",
        viewer,
        currency=snapshot.policy.currency,
        o=found,
        statuses=STATUSES,
        tiers=(*TIERS, None),
        now=now,
    )


# --- clients --------------------------------------------------------------------------------


def _many(values: list[str], allowed: tuple[str, ...], field: str) -> tuple[str, ...]:
    out = []
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if part and part not in allowed:
                raise invalid(field, f"{part!r} is not one of {', '.join(allowed)}", "enum")
            if part:
                out.append(part)
    return tuple(dict.fromkeys(out))


def _one(value: str | None, allowed: tuple[str, ...], field: str) -> str | None:
    if not value:
        return None
    if value not in allowed:
        raise invalid(field, f"{value!r} is not one of {', '.join(allowed)}", "enum")
    return value


def _decimal(value: str | None, field: str) -> Decimal | None:
    if not value or not value.strip():
        return None
    try:
        number = Decimal(value.strip().replace(",", ""))
    except InvalidOperation:
        raise invalid(field, f"{value!r} is not a number", "decimal_parsing") from None
    if not number.is_finite() or number < 0 or number > Decimal("1e17"):
        raise invalid(field, "must be a number from 0", "greater_than_equal")
    return number.quantize(Decimal("0.01"))


def _filters(request: Request) -> tuple[ClientFilter, dict[str, Any]]:
    """The list's filters from the query string (the API's names), and the form's values."""
    q = request.query_params
    min_risk_text = q.get("min_risk") or None
    min_risk = None
    if min_risk_text:
        try:
            min_risk = float(min_risk_text)
        except ValueError:
            raise invalid("min_risk", "must be a number from 0 to 1", "float_parsing") from None
        if not 0 <= min_risk <= 1:
            raise invalid("min_risk", "must be a number from 0 to 1", "less_than_equal")
    manager = (q.get("manager_id") or "").strip()[:128] or None
    if manager is not None:
        try:
            check_text(manager)  # what PostgreSQL can store: no NUL, no lone surrogate
        except ValueError as error:
            raise invalid("manager_id", str(error), "invalid_text") from None
    where = ClientFilter(
        statuses=_many(q.getlist("status"), STATUSES, "status"),
        tiers=_many(q.getlist("tier"), TIERS, "tier"),
        market=_one(q.get("market"), MARKETS, "market"),
        manager_id=manager,
        signal=_one(q.get("signal"), SIGNAL_CODES, "signal"),
        decisions=_many(q.getlist("decision"), DECISIONS, "decision"),
        min_value=_decimal(q.get("min_value"), "min_value"),
        min_risk=min_risk,
        xyz=_many(q.getlist("xyz"), XYZ_CLASSES, "xyz"),
    )
    form = {
        "status": where.statuses,
        "tier": where.tiers,
        "market": where.market,
        "manager_id": manager,
        "signal": where.signal,
        "decision": where.decisions,
        "min_value": where.min_value,
        "min_risk": min_risk_text,
        "xyz": where.xyz,
    }
    return where, form


def _query(form: dict[str, Any], **extra: Any) -> str:
    pairs: list[tuple[str, str]] = []
    for name, value in {**form, **extra}.items():
        if value is None or value == "" or value == ():
            continue
        if isinstance(value, tuple | list):
            pairs.extend((name, str(v)) for v in value)
        else:
            pairs.append((name, str(value)))
    return urlencode(pairs)


@router.get("/clients")
async def client_list(
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    viewer: ViewerDep,
    sort: Annotated[str, Query(max_length=40)] = "value_desc",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=600)] = None,
) -> Response:
    where, form = _filters(request)
    sort = _one(sort, SORTS, "sort") or "value_desc"
    found = await clients.list_page(session, where, sort, cursor, limit)
    base = {**form, "sort": sort, "limit": limit}
    return _page(
        request,
        "clients.html",
        viewer,
        currency=snapshot.policy.currency,
        page=found,
        form=form,
        sort=sort,
        limit=limit,
        first_page=cursor is None,
        next_query=_query(base, cursor=found.next_cursor) if found.next_cursor else None,
        first_query=_query(base),
        csv_query=_query({**form, "sort": sort}),
        statuses=STATUSES,
        tiers=TIERS,
        markets=MARKETS,
        signals=SIGNAL_CODES,
        decisions=DECISIONS,
        sorts=SORTS,
        page_sizes=PAGE_SIZES,
    )


@router.get("/clients.csv")
async def client_list_csv(
    request: Request,
    viewer: ViewerDep,
    sort: Annotated[str, Query(max_length=40)] = "value_desc",
) -> Response:
    """The same CSV as `GET /v1/clients` with `Accept: text/csv` and the same filters."""
    where, _ = _filters(request)
    sort = _one(sort, SORTS, "sort") or "value_desc"
    chunks = await clients.list_csv(request.app.state.sessionmaker, where, sort, None)
    return csv.response(chunks, "clients.csv")


@router.get("/clients/{client_id}")
async def client_page(
    request: Request,
    client_id: ClientIdPath,
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    viewer: ViewerDep,
) -> Response:
    found = await service.client_page(session, snapshot, client_id, now)
    return _page(
        request, "client.html", viewer, currency=snapshot.policy.currency, p=found, now=now
    )


# --- campaigns ------------------------------------------------------------------------------


@router.get("/campaigns")
async def campaign_list(
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    viewer: ViewerDep,
    status: Literal["running", "closed"] | None = None,
    cursor: Annotated[str | None, Query(max_length=600)] = None,
) -> Response:
    found = await campaigns.list_page(session, status, cursor, 50)
    next_query = None
    if found.next_cursor:
        next_query = _query({"status": status, "cursor": found.next_cursor})
    return _page(
        request,
        "campaigns.html",
        viewer,
        currency=snapshot.policy.currency,
        page=found,
        status=status,
        next_query=next_query,
    )


@router.get("/campaigns/{campaign_id}")
async def campaign_page(
    request: Request,
    campaign_id: CampaignIdPath,
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    viewer: ViewerDep,
    group: Group = "treatment",
    cursor: Annotated[str | None, Query(max_length=600)] = None,
) -> Response:
    found = await service.campaign_page(
        session,
        request.app.state.sessionmaker,
        request.app.state.ui_results,
        campaign_id,
        group,
        cursor,
        50,
        now,
    )
    next_query = None
    if found.members.next_cursor:
        next_query = _query({"group": group, "cursor": found.members.next_cursor})
    return _page(
        request,
        "campaign.html",
        viewer,
        currency=snapshot.policy.currency,
        c=found,
        next_query=next_query,
    )


@router.post("/campaigns/{campaign_id}/close")
async def close_campaign(
    campaign_id: CampaignIdPath,
    session: SessionDep,
    now: Now,
    viewer: FormViewer,
) -> Response:
    require(viewer, "campaigns:write")
    closed = await campaigns.close(session, campaign_id, now)
    return RedirectResponse(f"/ui/campaigns/{quote(closed.id, safe='')}", status_code=303)


# --- policy ---------------------------------------------------------------------------------

EDITABLE = (bool, int, float, str)


def policy_fields(policy: Policy) -> list[dict[str, Any]]:
    """Every field, in the schema's order; the scalar ones an admin can change in the form."""
    out = []
    for name, info in Policy.model_fields.items():
        value = getattr(policy, name)
        choices = (
            get_args(info.annotation) if str(info.annotation).startswith("typing.Literal") else ()
        )
        out.append(
            {
                "name": name,
                "value": value,
                "kind": "choice"
                if choices
                else ("bool" if isinstance(value, bool) else type(value).__name__),
                "choices": choices,
                "editable": isinstance(value, EDITABLE),
                "description": info.description,
            }
        )
    return out


@router.get("/policy")
async def policy_page(
    request: Request,
    snapshot: SnapshotDep,
    viewer: ViewerDep,
    saved: int | None = None,
) -> Response:
    return _page(
        request,
        "policy.html",
        viewer,
        currency=snapshot.policy.currency,
        version=snapshot.version,
        fields=policy_fields(snapshot.policy),
        saved=saved,
        error=None,
    )


def _changes(policy: Policy, form: Any) -> dict[str, Any]:
    """The scalar fields the form sent that differ from the policy in force, typed as theirs."""
    changes: dict[str, Any] = {}
    for field in policy_fields(policy):
        name, value = field["name"], field["value"]
        if not field["editable"]:
            continue
        if isinstance(value, bool):
            sent: Any = form.get(name) == "on"
        elif name not in form:
            continue
        else:
            text = str(form.get(name)).strip()
            try:
                sent = int(text) if isinstance(value, int) else float(text)
            except ValueError:
                if isinstance(value, int | float):
                    raise invalid(name, f"{text!r} is not a number", "number_parsing") from None
                sent = text
        if sent != value:
            changes[name] = sent
    return changes


@router.post("/policy")
async def change_policy(
    request: Request,
    session: SessionDep,
    snapshot: SnapshotDep,
    now: Now,
    viewer: FormViewer,
    version: Annotated[int, Form()],
) -> Response:
    require(viewer, "admin")
    form = await request.form()
    try:
        changes = _changes(snapshot.policy, form)
        if not changes:
            return RedirectResponse("/ui/policy", status_code=303)
        policy = policies.patched(snapshot.policy, changes)
        await policies.replace_policy(session, policy, viewer.principal.key_id, now, version)
    except ProblemError as exc:
        return pages.render(
            request,
            "policy.html",
            {
                "viewer": viewer,
                "currency": snapshot.policy.currency,
                "version": snapshot.version,
                "fields": policy_fields(snapshot.policy),
                "saved": None,
                "error": _problem_text(exc),
            },
            status_code=exc.status,
        )
    request.app.state.snapshots.invalidate()
    return RedirectResponse("/ui/policy?saved=1", status_code=303)


# --- errors as pages ------------------------------------------------------------------------


def _problem_text(exc: ProblemError) -> str:
    problem = exc.problem()
    parts = [problem.detail or problem.title]
    for error in problem.errors or []:
        parts.append(f"{error.field}: {error.message}")
    return "; ".join(p for p in parts if p)


def install(app: FastAPI) -> None:
    """Mount the pages and static files; errors on /ui paths become pages."""
    app.include_router(router)
    app.state.ui_overview = service.FiguresCache[service.Overview]()
    app.state.ui_results = {}  # campaign id -> FiguresCache of its results
    app.mount(STATIC_URL, StaticFiles(directory=pages.STATIC_DIR), name="ui-static")
    api_handlers = dict(app.exception_handlers)

    def error_page(request: Request, status: int, title: str, detail: str) -> Response:
        context = {"viewer": None, "currency": "EUR", "title": title, "detail": detail}
        return pages.render(request, "error.html", context, status_code=status)

    def for_ui(kind: type[Exception]) -> None:
        fallback = api_handlers.get(kind)

        async def handler(request: Request, exc: Exception) -> Response:
            if not request.url.path.startswith("/ui") or fallback is None:
                assert fallback is not None
                return await fallback(request, exc)
            if isinstance(exc, ProblemError):
                return error_page(request, exc.status, exc.problem().title, _problem_text(exc))
            if isinstance(exc, RequestValidationError):
                fields = "; ".join(
                    f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors()
                )
                return error_page(request, 422, "Invalid request", fields)
            if isinstance(exc, StarletteHTTPException):
                title = "Not found" if exc.status_code == 404 else "Error"
                return error_page(request, exc.status_code, title, str(exc.detail))
            return await fallback(request, exc)

        app.add_exception_handler(kind, handler)

    for kind in (ProblemError, RequestValidationError, StarletteHTTPException):
        for_ui(kind)

    async def sign_in_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInRequired)
        query = urlencode({"next": cookies.safe_next(exc.next_path)})
        return RedirectResponse(f"/ui/sign-in?{query}", status_code=303)

    async def scope_missing(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ScopeMissing)
        detail = f"The key you signed in with lacks the `{exc.scope}` scope this page needs."
        return error_page(request, 403, "Forbidden", detail)

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        detail = "The form was not sent from this dashboard's page (CSRF token missing or wrong)."
        return error_page(request, 403, "Forbidden", detail)

    app.add_exception_handler(SignInRequired, sign_in_required)
    app.add_exception_handler(ScopeMissing, scope_missing)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
