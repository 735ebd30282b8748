"""The committed OpenAPI document is what the code serves; every operation is documented."""

import json

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
