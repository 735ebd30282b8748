"""What the webhook endpoints need from the process: the URL guard and the sealing key, both
from the settings (the key read once per process)."""

from typing import Annotated

from fastapi import Depends, Request

from app.webhooks.crypto import sealing_key
from app.webhooks.service import guard_of
from app.webhooks.ssrf import Guard


def get_guard(request: Request) -> Guard:
    return guard_of(request.app.state.settings)


def get_secret_key(request: Request) -> bytes:
    state = request.app.state
    key: bytes | None = getattr(state, "webhook_secret_key", None)
    if key is None:
        key = state.webhook_secret_key = sealing_key(state.settings)
    return key


GuardDep = Annotated[Guard, Depends(get_guard)]
SecretKeyDep = Annotated[bytes, Depends(get_secret_key)]
