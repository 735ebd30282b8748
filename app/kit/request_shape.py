"""What every /v1 request must look like beyond its declared parameters.

- Unknown query parameters are refused (a misspelt `?statuss=lost` would otherwise return the
  unfiltered list as if it were the answer).
- A body sent without `Content-Type: application/json` (curl's `-d` alone sends a form type) is
  refused with a 415 that says so, not reported as "Input should be a valid dictionary".
"""

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from app.kit.problems import FieldError, ProblemError

_ALLOWED: dict[int, tuple[frozenset[str], bool]] = {}


def _walk(dependant: Dependant) -> tuple[set[str], bool]:
    names = {p.alias for p in dependant.query_params}
    has_body = bool(dependant.body_params)
    for sub in dependant.dependencies:
        sub_names, sub_body = _walk(sub)
        names |= sub_names
        has_body = has_body or sub_body
    return names, has_body


def _shape(route: APIRoute) -> tuple[frozenset[str], bool]:
    """The query parameter names a route declares (aliases included) and whether it has a body."""
    known = _ALLOWED.get(id(route))
    if known is None:
        names, has_body = _walk(route.dependant)
        known = (frozenset(names), has_body)
        _ALLOWED[id(route)] = known
    return known


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def check_request_shape(request: Request) -> None:
    """Raise a problem for unknown query parameters or a body that is not JSON."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    allowed, has_body = _shape(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in allowed]
    if unknown:
        hint = f"known: {', '.join(sorted(allowed))}" if allowed else "it takes none"
        raise ProblemError(
            422,
            "Invalid request",
            f"unknown query parameter {', '.join(unknown)} ({hint})",
            slug="validation-error",
            errors=[
                FieldError(field=name, message=f"unknown query parameter ({hint})", type="unknown")
                for name in unknown
            ],
        )
    content_type = request.headers.get("content-type")
    # a request without a body at all is left to the body's own validation ("field required")
    sent_body = request.headers.get("content-length", "0") != "0" or (
        "transfer-encoding" in request.headers
    )
    if has_body and sent_body and not (content_type and _is_json(content_type)):
        raise ProblemError(
            415,
            "Unsupported media type",
            "the body must be JSON sent with Content-Type: application/json, not "
            + (content_type or "without a content type"),
            slug="unsupported-media-type",
        )
