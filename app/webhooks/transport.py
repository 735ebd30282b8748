"""The HTTP client webhooks are sent with: httpx, short timeouts, no redirects, no proxies from
the environment, and a connection layer that checks every address it dials.

The check sits where the connection is made (an httpcore network backend): the host is resolved
once, every address it resolves to is judged by `ssrf.refusal` (one refused address refuses the
host: a name answering with a public and a private address is an attack), and the connection goes
to an address that was judged, never to a second resolution that might answer otherwise (DNS
rebinding). TLS is verified against the host name as usual. A refusal raises `Blocked` with the
reason, which the delivery log records.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ipaddress
import socket
import sys
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx

from app.webhooks import ssrf

# httpcore runs `import sniffio` for every lock it makes (several per request). The package is not
# installed (anyio 4 does without it), and an import that fails searches sys.path again each
# time: measured at about 2 ms of CPU per webhook sent. Recorded as absent once, it fails at once.
if importlib.util.find_spec("sniffio") is None:
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

Resolver = Callable[[str, int], Awaitable[list[str]]]
USER_AGENT = "winback-webhooks/0.1 (+https://www.standardwebhooks.com)"


class Blocked(Exception):
    """The guard refused every way to this host; the message says why."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host` (as `connect()` would use them)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, guard: ssrf.Guard, resolve: Resolver = system_resolver) -> None:
        self.guard = guard
        self.resolve = resolve
        self.inner = httpcore.AnyIOBackend()

    async def addresses(self, host: str, port: int, within: float | None) -> list[str]:
        literal = ssrf.literal_address(host)
        if literal is not None:
            why = self.guard.refusal(literal)
            if why:
                raise Blocked(why)
            return [str(literal)]
        try:
            async with asyncio.timeout(within):
                found = await self.resolve(host, port)
        except TimeoutError:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {within:g} s") from None
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if not found:
            raise httpcore.ConnectError(f"{host} resolves to no address")
        for text in found:
            address = ipaddress.ip_address(text.split("%", 1)[0])
            why = self.guard.refusal(address)
            if why:
                raise Blocked(f"{host} resolves to {address}: {why}")
        return found

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        failure: Exception | None = None
        for address in await self.addresses(host, port, timeout):
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise Blocked("unix sockets are not webhook targets")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request and response mapping, errors) over a connection pool
    whose connections are made by `GuardedBackend`. httpx takes no network backend argument, so
    the pool it built is replaced by an equivalent one that has it."""

    def __init__(
        self,
        guard: ssrf.Guard,
        resolve: Resolver = system_resolver,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard, resolve),
        )


def client(
    guard: ssrf.Guard,
    connect_timeout: float,
    timeout: float,
    resolve: Resolver = system_resolver,
) -> httpx.AsyncClient:
    """A client for sending webhooks: connect within `connect_timeout`, each read or write
    within `timeout` (the sender bounds the whole exchange by `timeout` too), no redirects."""
    return httpx.AsyncClient(
        transport=GuardedTransport(guard, resolve),
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": USER_AGENT},
    )
