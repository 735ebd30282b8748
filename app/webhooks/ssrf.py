"""Where winback may send a webhook: pure checks of an address, a host and a URL (no I/O).

Outgoing webhooks go to URLs an admin typed, from inside the seller's network: without a guard a
URL could make winback call its own database, a cloud metadata service (169.254.169.254) or any
intranet host (server-side request forgery). The guard refuses every address that is not a plain
public unicast address: private, loopback, link-local, CGNAT, multicast, reserved, benchmarking
and documentation ranges, "this network", IPv6 ULA, site- and link-local, and IPv4 carried
inside IPv6 (mapped, compatible, 6to4, NAT64, Teredo) when the IPv4 it carries is refused. An
allow-list (`WINBACK_WEBHOOK_ALLOWED_NETWORKS`) lets chosen private networks through.

`refusal` judges one resolved address; the delivery's transport calls it for every address a
host resolves to, at every connection (app.webhooks.transport), so a name that later resolves
elsewhere (DNS rebinding) is caught where it matters. `url_refusal` is the registration check:
scheme, host shape, and an address written into the URL in any form `inet_aton` accepts
(`2130706433`, `0177.0.0.1`, `0x7f.1`).
"""

import functools
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _table(rows: Iterable[tuple[str, str]]) -> tuple[tuple[Network, str], ...]:
    return tuple((ipaddress.ip_network(network), label) for network, label in rows)


# IANA's special-purpose registries, by what a reader of a refusal needs to hear.
BLOCKED: tuple[tuple[Network, str], ...] = _table(
    [
        ("0.0.0.0/8", "'this network' (unspecified)"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "carrier-grade NAT (shared address space)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local (cloud metadata lives here)"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation (TEST-NET-1)"),
        ("192.88.99.0/24", "6to4 relay anycast (deprecated)"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation (TEST-NET-2)"),
        ("203.0.113.0/24", "documentation (TEST-NET-3)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible (deprecated)"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("2001::/23", "IETF protocol assignments"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "segment routing (SRv6)"),
        ("fc00::/7", "unique local (ULA)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local (deprecated)"),
        ("ff00::/8", "multicast"),
    ]
)

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries and would reach: IPv4-mapped (::ffff:a.b.c.d),
    6to4 (2002:aabb:ccdd::), NAT64 (64:ff9b::a.b.c.d) or Teredo's server."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.teredo is not None:
        return address.teredo[0]
    return None


@functools.lru_cache(maxsize=4096)  # pure, and asked at every delivery
def refusal(address: Address, allowed: tuple[Network, ...] = ()) -> str | None:
    """Why winback must not connect to `address`, or None when it may. An address inside an
    allowed network may; so may an IPv6 address whose embedded IPv4 is allowed."""
    if any(address.version == network.version and address in network for network in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            why = refusal(inner, allowed)
            return f"{address} carries {inner}: {why}" if why else None
    for network, label in BLOCKED:
        if address.version == network.version and address in network:
            return f"{address} is {label}, in {network}"
    if not address.is_global:
        return f"{address} is not a public address"
    return None


def _inet_aton_part(text: str) -> int:
    if text[:2].lower() == "0x":
        return int(text[2:] or "0", 16)
    if len(text) > 1 and text.startswith("0"):
        return int(text[1:], 8)
    return int(text, 10)


@functools.lru_cache(maxsize=4096)  # pure, and asked at every delivery
def literal_address(host: str) -> Address | None:
    """The address a host written as one stands for, in every form the C library's resolver
    accepts: IPv6 (brackets and zone dropped), dotted quad, and the `inet_aton` shorthands with
    one to four parts in decimal, octal (leading 0) or hex (0x): `2130706433`, `0177.0.0.1`,
    `0x7f.1` are all 127.0.0.1. None for a name."""
    host = host.strip().strip("[]").rstrip(".")
    if ":" in host:
        try:
            return ipaddress.IPv6Address(host.split("%", 1)[0])
        except ValueError:
            return None
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(parts):
        return None
    try:
        numbers = [_inet_aton_part(part) for part in parts]
    except ValueError:
        return None
    *leading, last = numbers
    if any(n > 0xFF for n in leading) or last >= 1 << (8 * (5 - len(numbers))):
        return None
    value = last
    for index, number in enumerate(leading):
        value |= number << (24 - 8 * index)
    return ipaddress.IPv4Address(value)


_HOST_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-._")


@functools.lru_cache(maxsize=4096)  # pure, and asked at every delivery
def url_refusal(
    url: str, allow_http: bool = False, allowed: tuple[Network, ...] = ()
) -> str | None:
    """Why `url` cannot be a webhook endpoint, or None. Checked when an endpoint is registered
    or its URL changed; the addresses a name resolves to are checked at each delivery."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        if parts.scheme == "http":
            return "must use https (http is allowed only with WINBACK_WEBHOOK_ALLOW_HTTP=true)"
        return "must be an https URL"
    host = (parts.hostname or "").lower()
    if not host:
        return "must name a host"
    if port == 0:
        return "must not use port 0"
    address = literal_address(host)
    if address is None:
        try:
            name = host.encode("idna").decode("ascii")  # bücher.de -> xn--bcher-kva.de
        except UnicodeError:
            return f"has an invalid host {host!r}"
        if ":" in name or not set(name) <= _HOST_CHARACTERS:
            return f"has an invalid host {host!r}"
        if host.rstrip(".") == "localhost" or host.rstrip(".").endswith(".localhost"):
            address = ipaddress.IPv4Address("127.0.0.1")  # what every resolver answers
    if address is not None:
        why = refusal(address, allowed)
        if why:
            return f"points at a non-public address: {why}"
    return None


@dataclass(frozen=True)
class Guard:
    """The deployment's rules (WINBACK_WEBHOOK_ALLOW_HTTP, WINBACK_WEBHOOK_ALLOWED_NETWORKS)."""

    allow_http: bool = False
    allowed: tuple[Network, ...] = ()

    def url_refusal(self, url: str) -> str | None:
        return url_refusal(url, self.allow_http, self.allowed)

    def refusal(self, address: Address) -> str | None:
        return refusal(address, self.allowed)
