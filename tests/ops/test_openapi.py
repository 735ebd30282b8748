"""The committed OpenAPI document is what the code serves; every operation is documented."""

import json

from fastapi.routing import APIRoute, iter_route_contexts

from app.config import Settings
from app.main import create_app
from app.openapi_doc import OPENAPI_PATH, generate, render


def test_committed_openapi_matches_the_code() -> None:
    committed = OPENAPI_PATH.read_text()
    assert committed == render(generate()), (
        "openapi/openapi.json drifted from the code: run `./dev openapi` and commit the result"
    )


def test_every_operation_has_a_summary_and_documented_errors() -> None:
    document = json.loads(OPENAPI_PATH.read_text())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("summary"), (method, path)
            if path.startswith("/v1/"):
                assert "401" in operation["responses"], (method, path)
                if operation.get("security") != []:  # a signed webhook has no key, no scope
                    assert "403" in operation["responses"], (method, path)


def test_request_bodies_carry_examples() -> None:
    document = json.loads(OPENAPI_PATH.read_text())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            schema = body["content"]["application/json"]
            name = schema["schema"].get("$ref", "").rsplit("/", 1)[-1]
            component = document["components"]["schemas"].get(name, {})
            assert "examples" in schema or "example" in schema or "examples" in component, (
                method,
                path,
            )


def test_every_operation_has_its_own_summary_and_a_description() -> None:
    """No operation falls back to FastAPI's summary made from the function name ("Get Policy"),
    and each says what it does (the decorator's `description` or the function's docstring)."""
    app = create_app(Settings(database_url="postgresql://unused"))
    routes = [
        route
        for route in (context.original_route for context in iter_route_contexts(app.routes))
        if isinstance(route, APIRoute) and route.include_in_schema
    ]
    operations = [(m, p, o) for p, ops in generate()["paths"].items() for m, o in ops.items()]
    assert sum(len(route.methods) for route in routes) == len(operations)
    for route in routes:
        assert route.summary, (route.path, route.name)
        assert route.summary != route.name.replace("_", " ").title(), (route.path, route.name)
        assert route.description.strip(), (route.path, route.name)
    for method, path, operation in operations:
        assert operation.get("description", "").strip(), (method, path)
