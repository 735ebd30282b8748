"""Pure ASGI middleware: body size limits (413), request timing for /metrics, and the last word on
an error nothing else handled (a problem document, 503 + Retry-After when the database is out of
reach; the connection is kept, the exception is not re-raised to the server).

Pure ASGI rather than BaseHTTPMiddleware: it sits on every write and must cost next to nothing.
"""

import json
import time

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit import metrics
from app.kit.problems import PROBLEM_JSON, problem_type, unexpected_problem


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body_bytes: int, max_batch_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_batch_body_bytes = max_batch_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = (
            self.max_batch_body_bytes
            if scope["path"].endswith("/events/batch")
            else self.max_body_bytes
        )
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._too_large(scope, send, limit)
                return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise HTTPException(413, f"the body exceeds {limit} bytes")
            return message

        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send_status(message)

        try:
            await self.app(scope, limited_receive, send_tracked)
        except Exception as exc:
            if started:  # the response is under way: nothing better can be sent
                raise
            problem, headers = unexpected_problem(exc, scope["method"], scope["path"])
            status = problem.status
            await self._send_problem(send, problem.model_dump(exclude_none=True), headers)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.REQUESTS.labels(scope["method"], route, str(status)).observe(
                time.perf_counter() - start
            )

    async def _send_problem(
        self, send: Send, problem: dict[str, object], headers: dict[str, str] | None
    ) -> None:
        body = json.dumps(problem).encode()
        raw_headers = [
            (b"content-type", PROBLEM_JSON.encode()),
            (b"content-length", str(len(body)).encode()),
            *((k.lower().encode(), v.encode()) for k, v in (headers or {}).items()),
        ]
        await send(
            {"type": "http.response.start", "status": problem["status"], "headers": raw_headers}
        )
        await send({"type": "http.response.body", "body": body})

    async def _too_large(self, scope: Scope, send: Send, limit: int) -> None:
        body = json.dumps(
            {
                "type": problem_type("content-too-large"),
                "title": "Content too large",
                "status": 413,
                "detail": f"the body exceeds {limit} bytes",
                "instance": scope["path"],
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", PROBLEM_JSON.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
