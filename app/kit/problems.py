"""RFC 9457 problem documents: every error the API returns is one of these, never a stack trace."""

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("winback")

PROBLEM_JSON = "application/problem+json"
# Tags of discriminated unions (e.g. "order.placed"): pydantic puts them in error locations, but
# they are not fields the sender wrote, so problem documents leave them out.
UNION_TAGS: set[str] = set()


def register_union_tags(tags: Sequence[str]) -> None:
    UNION_TAGS.update(tags)


class FieldError(BaseModel):
    field: str
    message: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem document (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldError] | None = None


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str | None = None,
        errors: Sequence[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug
        self.errors = list(errors) if errors else None
        self.headers = headers

    def problem(self, instance: str | None = None) -> Problem:
        return Problem(
            type=problem_type(self.slug or HTTP_SLUGS.get(self.status, "http-error")),
            title=self.title,
            status=self.status,
            detail=self.detail,
            instance=instance,
            errors=self.errors,
        )


def problem_type(slug: str) -> str:
    return f"https://winback.dev/problems/{slug}"


def invalid(field: str, message: str, kind: str = "value_error") -> ProblemError:
    """A 422 for one field, in the same shape as request validation errors."""
    return ProblemError(
        422,
        "Invalid request",
        f"{field}: {message}",
        slug="validation-error",
        errors=[FieldError(field=field, message=message, type=kind)],
    )


def not_found(what: str) -> ProblemError:
    return ProblemError(404, "Not found", f"{what} does not exist", slug="not-found")


def _is_branch_label(part: str) -> bool:
    """pydantic names the branch of a union it tried (`function-after[...]`, `list[...]`)."""
    return part.startswith("function-") or "[" in part or "(" in part


def field_path(loc: Sequence[str | int], drop_body: bool = True) -> str:
    """('body', 'order.placed', 'data', 'amount') -> 'data.amount'; ('query', 'sort') -> 'sort';
    list indexes as [i]. Headers keep their prefix (`header.accept`)."""
    parts = list(loc)
    if drop_body and parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in UNION_TAGS or (isinstance(part, str) and _is_branch_label(part)):
            continue  # a union's tag or branch label, not a field the sender wrote
        else:
            out += f".{part}" if out else str(part)
    return out or "body"


def field_errors(errors: Sequence[Any]) -> list[FieldError]:
    out = []
    if len(errors) > 1:  # "Input should be None" is the other branch of `X | None`: noise
        errors = [e for e in errors if e.get("type") != "none_required"] or list(errors)
    for error in errors:
        message = str(error.get("msg", "invalid"))
        kind = str(error.get("type", "value_error"))
        path = field_path(error.get("loc", ()))
        if kind in ("union_tag_invalid", "union_tag_not_found"):
            path = f"{path}.type" if path != "body" else "type"
        out.append(FieldError(field=path, message=message, type=kind))
    return out


def validation_problem(errors: Sequence[Any]) -> ProblemError:
    fields = field_errors(errors)
    detail = "; ".join(f"{e.field}: {e.message}" for e in fields[:5])
    return ProblemError(422, "Invalid request", detail, slug="validation-error", errors=fields)


def _response(problem: Problem, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


HTTP_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    503: "Service unavailable",
}


# Problem types of the errors the framework raises (routing, method, body size), so that every
# error an integrator sees carries one of winback's types, never about:blank.
HTTP_SLUGS = {
    400: "bad-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    406: "not-acceptable",
    409: "conflict",
    413: "content-too-large",
    415: "unsupported-media-type",
    422: "validation-error",
    429: "too-many-requests",
}


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path: Starlette's own `Allow` names only the first
    route that matched the path (GET /v1/clients/{id} hides PATCH and DELETE)."""
    methods: set[str] = set()
    for context in iter_route_contexts(request.app.router.routes):
        match, _ = context.matches(request.scope)
        if match != Match.NONE:
            methods |= set(getattr(context.original_route, "methods", None) or ())
    return ", ".join(sorted(methods - {"HEAD"}))


def http_problem(request: Request, exc: StarletteHTTPException) -> Problem:
    status = exc.status_code
    title = HTTP_TITLES.get(status, "Error")
    path = request.url.path
    detail: str | None
    if status == 404:
        detail = f"no endpoint at {path}; the API is described at /docs"
    elif status == 405:
        allowed = allowed_methods(request)
        detail = f"{request.method} is not allowed on {path}" + (
            f"; allowed: {allowed}" if allowed else ""
        )
    else:
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail != title else None
    return Problem(
        type=problem_type(HTTP_SLUGS.get(status, "http-error")),
        title=title,
        status=status,
        detail=detail,
        instance=path,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return _response(exc.problem(request.url.path), exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            problem = ProblemError(
                400, "Malformed JSON", "the body is not valid JSON", slug="malformed-json"
            )
            return _response(problem.problem(request.url.path))
        return _response(validation_problem(errors).problem(request.url.path))

    @app.exception_handler(ValidationError)
    async def _pydantic(request: Request, exc: ValidationError) -> JSONResponse:
        return _response(validation_problem(exc.errors()).problem(request.url.path))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return _response(http_problem(request, exc), headers or None)

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        problem, headers = unexpected_problem(exc, request.method, request.url.path)
        return _response(problem, headers)


# Errors that mean "the database is out of reach or busy right now": the request was not
# applied (its transaction rolled back), so a retry after a moment is safe.
RETRY_AFTER_SECONDS = 2


# Out of reach: no transaction can run now (a group commit stops retrying on these).
_UNREACHABLE = {
    "ConnectionDoesNotExistError",
    "CannotConnectNowError",
    "ConnectionFailureError",
    "InterfaceError",
    "OperationalError",
    "AdminShutdownError",
    "TooManyConnectionsError",
    "PostgresConnectionError",
}
# Busy: this transaction lost out to another or ran too long; the next one may well pass.
_BUSY = {"DeadlockDetectedError", "SerializationError", "QueryCanceledError"}


def _database_error(exc: BaseException, names: set[str], connection_level: bool) -> bool:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ in names:
            return True
        if connection_level and (
            isinstance(current, OSError | TimeoutError)
            or getattr(current, "connection_invalidated", False)
        ):
            return True
        current = current.__cause__ or current.__context__ or getattr(current, "orig", None)
    return False


def database_out_of_reach(exc: BaseException) -> bool:
    """The database cannot be reached or took no more connections (not one transaction's
    trouble, as a deadlock is, even wrapped in SQLAlchemy's OperationalError)."""
    if _database_error(exc, _BUSY, connection_level=False):
        return False
    return _database_error(exc, _UNREACHABLE, connection_level=True)


def _is_transient_database_error(exc: BaseException) -> bool:
    return database_out_of_reach(exc) or _database_error(exc, _BUSY, connection_level=False)


def unexpected_problem(
    exc: BaseException, method: str, path: str
) -> tuple[Problem, dict[str, str] | None]:
    """An error no handler expected: a 503 with Retry-After when the database is out of reach
    or asked for a retry (deadlock, serialization), else a 500. Never a stack trace."""
    if _is_transient_database_error(exc):
        log.warning("database unavailable on %s %s: %r", method, path, exc)
        return Problem(
            type=problem_type("service-unavailable"),
            title="Service unavailable",
            status=503,
            detail="the database is out of reach or busy; nothing was stored, retry later",
            instance=path,
        ), {"Retry-After": str(RETRY_AFTER_SECONDS)}
    log.error("unhandled error on %s %s", method, path, exc_info=exc)
    return Problem(
        type=problem_type("internal-error"),
        title="Internal error",
        status=500,
        detail="the server failed to handle this request; nothing was stored",
        instance=path,
    ), None


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": HTTP_TITLES[code]}
    for code in (400, 401, 403, 404, 409, 413, 415, 422)
}


def problem_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: PROBLEM_RESPONSES[code] for code in codes}
