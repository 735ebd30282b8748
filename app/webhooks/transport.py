"""The HTTP client webhooks are sent with: aiohttp, short timeouts, no redirects, no proxies from
the environment, and a resolver that judges every address the connection may dial.

Why aiohttp and not httpx (which the tests and the rest of the code use as a client of the API):
sending is the worker's whole job and competes with ingest for the same cores; measured on the
development machine, one POST costs about 0.15-0.2 ms of CPU with aiohttp (C parser, no per-
request lock machinery) against 2.8 ms with httpx. See docs/decisions.md.

The check sits where the connection is made: a host written as an address is judged before any
connection; a name is resolved once by `GuardedResolver`, every address it resolves to is judged
by the guard (one refused address refuses the name: a name answering with a public and a private
address is an attack), and aiohttp dials only the addresses the resolver returned, never a second
resolution that might answer otherwise (DNS rebinding; its DNS cache is off, so each new
connection resolves again). TLS is verified against the host name as usual. A refusal raises
`Blocked` with the reason, which the delivery log records.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from app.webhooks import ssrf

Resolver = Callable[[str, int], Awaitable[list[str]]]
USER_AGENT = "winback-webhooks/0.1 (+https://www.standardwebhooks.com)"


class Blocked(Exception):
    """The guard refused every way to this host; the message says why."""


class InvalidURL(Exception):
    """The URL cannot be sent to (no host, an unknown scheme)."""


class ConnectTimeout(Exception):
    """No connection within the connect timeout (resolving included)."""


class ReadTimeout(Exception):
    """Connected, but the exchange did not finish within the timeout."""


class NetworkError(Exception):
    """The connection failed or broke: refused, reset, TLS, a malformed answer."""


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: Mapping[str, str]  # names in lower case
    body: bytes  # at most the first `limit` bytes the endpoint sent


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses the system resolver gives for `host` (as `connect()` would use them)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def judged_literal(guard: ssrf.Guard, host: str) -> ssrf.Address | None:
    """The address a host written as one stands for, if the guard allows it (`Blocked` if not);
    None for a name."""
    literal = ssrf.literal_address(host)
    if literal is not None:
        why = guard.refusal(literal)
        if why:
            raise Blocked(why)
    return literal


async def judged_addresses(
    guard: ssrf.Guard, resolve: Resolver, host: str, port: int, within: float | None
) -> list[str]:
    """Every address `host` stands for, each allowed by the guard; `Blocked` if any is not."""
    literal = judged_literal(guard, host)
    if literal is not None:
        return [str(literal)]
    try:
        async with asyncio.timeout(within):
            found = await resolve(host, port)
    except TimeoutError:
        raise ConnectTimeout(f"resolving {host} took over {within:g} s") from None
    except OSError as exc:
        raise NetworkError(f"cannot resolve {host}: {exc}") from None
    if not found:
        raise NetworkError(f"{host} resolves to no address")
    for text in found:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        why = guard.refusal(address)
        if why:
            raise Blocked(f"{host} resolves to {address}: {why}")
    return found


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver interface over `judged_addresses`: what it returns is what is dialled."""

    def __init__(self, guard: ssrf.Guard, resolve: Resolver, within: float) -> None:
        self.guard = guard
        self.resolve_host = resolve
        self.within = within

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await judged_addresses(self.guard, self.resolve_host, host, port, self.within)
        return [
            ResolveResult(
                hostname=host,
                host=text,
                port=port,
                family=socket.AF_INET6 if ":" in text else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for text in found
        ]

    async def close(self) -> None:
        return None


class WebhookClient:
    """POSTs bodies to webhook URLs; made lazily inside the running loop (aiohttp's session must
    be), closed with `aclose()` or `async with`."""

    def __init__(
        self,
        guard: ssrf.Guard,
        connect_timeout: float,
        timeout: float,
        resolve: Resolver = system_resolver,
    ) -> None:
        self.guard = guard
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self.resolve = resolve
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                resolver=GuardedResolver(self.guard, self.resolve, self.connect_timeout),
                use_dns_cache=False,  # every new connection is judged on a fresh answer
                limit=0,  # the deliverer bounds what is in flight; a pool wait is no timeout
                keepalive_timeout=15,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(
                    total=self.timeout, sock_connect=self.connect_timeout
                ),
                trust_env=False,  # no proxies from the environment
                headers={"user-agent": USER_AGENT},
                skip_auto_headers=("Accept-Encoding",),
                auto_decompress=False,
            )
        return self._session

    async def post(
        self, url: str, body: bytes, headers: Mapping[str, str], limit: int = 4096
    ) -> Answer:
        """The answer to one POST, or one of this module's exceptions."""
        try:
            target = URL(url)
            host = target.host
        except ValueError as exc:
            raise InvalidURL(str(exc)) from None
        if not host or target.scheme not in ("http", "https"):
            raise InvalidURL(f"{url!r} is not an http(s) URL with a host")
        # aiohttp dials a host written as an address without asking the resolver: judged here
        judged_literal(self.guard, host)
        try:
            async with self.session().post(
                target, data=body, headers=dict(headers), allow_redirects=False
            ) as response:
                chunk = b""
                while len(chunk) < limit:
                    part = await response.content.read(limit - len(chunk))
                    if not part:
                        break
                    chunk += part
                headers_lower = {name.lower(): value for name, value in response.headers.items()}
                return Answer(response.status, headers_lower, chunk)
        except aiohttp.ConnectionTimeoutError:
            raise ConnectTimeout(f"waited over {self.connect_timeout:g} s to connect") from None
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise ReadTimeout(f"waited over {self.timeout:g} s for an answer") from None
        except aiohttp.InvalidURL as exc:
            raise InvalidURL(str(exc)) from None
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            if isinstance(cause, Blocked | ConnectTimeout | NetworkError):
                raise cause from None
            raise NetworkError(f"{type(exc).__name__}: {exc}") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> WebhookClient:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        await self.aclose()


def client(
    guard: ssrf.Guard,
    connect_timeout: float,
    timeout: float,
    resolve: Resolver = system_resolver,
) -> WebhookClient:
    """A client for sending webhooks: connect within `connect_timeout`, the whole exchange within
    `timeout`, no redirects."""
    return WebhookClient(guard, connect_timeout, timeout, resolve)
