"""The SSRF guard: every blocked range (IPv4 and IPv6, IPv4 inside IPv6), host forms the C
library reads as addresses (decimal, octal, hex), names resolving to private addresses, and the
allow-list; checked at registration and again at each delivery, with the reason logged."""

import ipaddress
from collections.abc import Awaitable, Callable

import pytest
from httpx import AsyncClient
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.webhooks import ssrf, transport
from app.webhooks.models import WebhookAttempt, WebhookDelivery
from app.webhooks.service import guard_of
from tests.conftest import NOW, Clock
from tests.conftest import test_settings as settings_with
from tests.webhooks.conftest import DEVELOPMENT, Headers, deliverer, order, post, register
from tests.webhooks.receiver import Receiver, Reply

BLOCKED = [
    # IPv4
    ("0.0.0.0", "'this network'"),
    ("0.1.2.3", "'this network'"),
    ("10.0.0.1", "private"),
    ("10.255.255.255", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("127.0.0.1", "loopback"),
    ("127.255.0.9", "loopback"),
    ("169.254.169.254", "link-local"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.0.0.8", "IETF protocol assignments"),
    ("192.0.2.10", "documentation"),
    ("192.88.99.1", "6to4 relay"),
    ("192.168.1.1", "private"),
    ("198.18.0.1", "benchmarking"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    # IPv6
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fc00::1", "unique local"),
    ("fd12:3456:789a::1", "unique local"),
    ("fe80::1", "link-local"),
    ("febf::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("100::1", "discard-only"),
    ("64:ff9b:1::1", "local-use NAT64"),
    ("5f00::1", "segment routing"),
    ("2001:2::1", "IETF protocol assignments"),
    # IPv4 inside IPv6
    ("::ffff:127.0.0.1", "127.0.0.1 is loopback"),
    ("::ffff:10.0.0.1", "10.0.0.1 is private"),
    ("::ffff:169.254.169.254", "169.254.169.254 is link-local"),
    ("::ffff:0.0.0.0", "'this network'"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("64:ff9b::a9fe:a9fe", "169.254.169.254 is link-local"),  # NAT64
    ("2002:7f00:1::1", "127.0.0.1 is loopback"),  # 6to4
    ("2002:c0a8:101::1", "192.168.1.1 is private"),
]
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_every_non_public_range_is_refused_with_its_reason(address: str, reason: str) -> None:
    why = ssrf.refusal(ipaddress.ip_address(address))
    assert why is not None and reason in why, why


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert ssrf.refusal(ipaddress.ip_address(address)) is None


def test_the_allow_list_lets_chosen_networks_through_and_no_more() -> None:
    allowed = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8"))
    assert ssrf.refusal(ipaddress.ip_address("127.0.0.1"), allowed) is None
    assert ssrf.refusal(ipaddress.ip_address("10.9.8.7"), allowed) is None
    assert ssrf.refusal(ipaddress.ip_address("::ffff:127.0.0.1"), allowed) is None
    assert ssrf.refusal(ipaddress.ip_address("127.0.0.2"), allowed) is not None
    assert ssrf.refusal(ipaddress.ip_address("::1"), allowed) is not None
    assert ssrf.refusal(ipaddress.ip_address("169.254.169.254"), allowed) is not None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0177.1", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),  # hex
        ("0x7f000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x0", "0.0.0.0"),
        ("169.254.43518", "169.254.169.254"),
        ("[::ffff:127.0.0.1]", "::ffff:127.0.0.1"),
        ("fe80::1%eth0", "fe80::1"),
        ("10.0.0.1.", "10.0.0.1"),
    ],
)
def test_host_forms_the_resolver_reads_as_addresses(host: str, address: str) -> None:
    assert ssrf.literal_address(host) == ipaddress.ip_address(address)


@pytest.mark.parametrize("host", ["example.com", "08.1.1.1", "1.2.3.4.5", "256.1.1.1x", "a.0x1"])
def test_names_are_not_addresses(host: str) -> None:
    assert ssrf.literal_address(host) is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://crm.example.com/hook", "must use https"),
        ("ftp://crm.example.com/hook", "must be an https URL"),
        ("https:///hook", "must name a host"),
        ("https://crm.example.com:0/", "port 0"),
        ("https://crm.example.com:70000/", "not a valid URL"),
        ("https://cr m.example.com/", "invalid host"),
        ("https://127.0.0.1/hook", "127.0.0.1 is loopback"),
        ("https://2130706433/hook", "127.0.0.1 is loopback"),
        ("https://0177.0.0.1/hook", "127.0.0.1 is loopback"),
        ("https://0x7f.1/hook", "127.0.0.1 is loopback"),
        ("https://0.0.0.0/hook", "'this network'"),
        ("https://[::1]/hook", "::1 is loopback"),
        ("https://[::ffff:127.0.0.1]/hook", "127.0.0.1 is loopback"),
        ("https://[fe80::1%25eth0]/hook", "link-local"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://10.1.2.3/hook", "private"),
        ("https://[fd00::5]/hook", "unique local"),
        ("https://localhost/hook", "loopback"),
        ("https://api.localhost/hook", "loopback"),
    ],
)
def test_registration_refuses_urls_with_the_reason(url: str, reason: str) -> None:
    why = ssrf.url_refusal(url)
    assert why is not None and reason in why, why


@pytest.mark.parametrize(
    "url",
    [
        "https://crm.example.com/hooks/winback?token=abc",
        "https://bücher.example/hook",
        "https://8.8.8.8:8443/hook",
        "https://[2606:4700::1111]/hook",
    ],
)
def test_registration_takes_public_https_urls(url: str) -> None:
    assert ssrf.url_refusal(url) is None


def test_development_settings_open_http_and_the_allowed_networks_only() -> None:
    guard = guard_of(settings_with(**DEVELOPMENT))
    assert guard.url_refusal("http://127.0.0.1:8080/hook") is None
    assert guard.url_refusal("http://crm.example.com/hook") is None
    assert "loopback" in (guard.url_refusal("http://127.0.0.2:8080/hook") or "")
    assert "private" in (guard.url_refusal("http://192.168.1.20/hook") or "")


async def test_the_api_refuses_a_private_target_naming_the_field(
    api: AsyncClient, headers: Headers
) -> None:
    response = await api.post(
        "/v1/webhook-endpoints",
        json={"url": "https://0177.0.0.1/hook", "event_types": ["client.status_changed"]},
        headers=headers["admin"],
    )
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "url" and "127.0.0.1 is loopback" in error["message"]


# --- at delivery: the address is judged where the connection is made --------------------------

Resolve = Callable[[str, int], Awaitable[list[str]]]


def fake_dns(answers: dict[str, list[str]]) -> Resolve:
    async def resolve(host: str, port: int) -> list[str]:
        if host in answers:
            return answers[host]
        return await transport.system_resolver(host, port)

    return resolve


async def attempts(sessionmaker: async_sessionmaker[AsyncSession]) -> list[WebhookAttempt]:
    async with sessionmaker() as session:
        statement = select(WebhookAttempt).order_by(WebhookAttempt.delivery_id)
        return list((await session.execute(statement)).scalars())


LOOPBACK_FORMS = [
    "127.0.0.1",
    "2130706433",
    "0177.0.0.1",
    "0x7f.0.0.1",
    "127.1",
    "[::ffff:127.0.0.1]",
    "localhost",
]


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
async def test_each_delivery_checks_the_address_again(
    hooks_api: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
    host: str,
) -> None:
    """Registered while the allow-list let 127.0.0.1 through (a development setup); the
    allow-list was emptied since: the next delivery is refused and says why, and the receiver
    (listening on that very address) gets nothing."""
    url = f"http://{host}:{receiver.port}/hooks/winback"
    endpoint_id, _ = await register(hooks_api, headers, url)
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock, webhook_allowed_networks="") as worker:
        await worker.drain()
    [attempt] = await attempts(committed)
    assert attempt.outcome == "refused" and attempt.status_code is None
    assert "127.0.0.1 is loopback" in (attempt.error or ""), attempt.error
    assert receiver.requests == []
    async with committed() as session:
        [delivery] = (await session.execute(select(WebhookDelivery))).scalars().all()
    assert delivery.status == "pending"  # retried on the schedule: the URL may be fixed
    assert delivery.next_attempt_at is not None and delivery.next_attempt_at > NOW
    log = await hooks_api.get(
        f"/v1/webhook-endpoints/{endpoint_id}/deliveries", headers=headers["admin"]
    )
    assert log.json()["items"][0]["attempts"][0]["outcome"] == "refused"


@pytest.mark.parametrize("host", LOOPBACK_FORMS)
async def test_the_connection_itself_refuses_every_form_of_a_blocked_address(
    receiver: Receiver, host: str
) -> None:
    """Below the URL check: the transport judges the address it is about to dial."""
    async with transport.client(ssrf.Guard(allow_http=True), 2, 15) as http:
        with pytest.raises(transport.Blocked, match=r"127\.0\.0\.1 is loopback"):
            await http.post(f"http://{host}:{receiver.port}/hooks/winback", b"{}", {})
    assert receiver.requests == []


async def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(
    hooks_api: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
) -> None:
    """Registration cannot know what a name will resolve to; the connection does. One blocked
    address among the answers refuses the name."""
    await register(hooks_api, headers, "https://crm.example.com/hook")
    await post(hooks_api, headers, order("acme", 1, 3))
    dns = fake_dns({"crm.example.com": ["93.184.216.34", "10.0.0.7"]})
    async with deliverer(committed, clock, dns) as worker:
        await worker.drain()
    [attempt] = await attempts(committed)
    assert attempt.outcome == "refused"
    assert attempt.error == (
        "refused: crm.example.com resolves to 10.0.0.7: 10.0.0.7 is private, in 10.0.0.0/8"
    )


async def test_a_refused_answer_from_dns_rebinding_is_caught_on_the_next_connection(
    hooks_api: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    """A name that pointed at an allowed address and now points at a blocked one: the next
    connection is judged on the new answer."""
    answers = {"hooks.test": ["127.0.0.1"]}
    receiver.default = Reply(headers={"Connection": "close"})  # every message dials anew
    await register(hooks_api, headers, f"http://hooks.test:{receiver.port}/hooks/winback")
    async with deliverer(committed, clock, fake_dns(answers)) as worker:
        await post(hooks_api, headers, order("acme", 1, 3))
        await worker.drain()
        assert len(receiver.requests) == 1
        answers["hooks.test"] = ["169.254.169.254"]
        await post(hooks_api, headers, order("bolt", 1, 3))
        await worker.drain()
    assert len(receiver.requests) == 1
    refused = [a for a in await attempts(committed) if a.outcome == "refused"]
    assert len(refused) == 1 and "169.254.169.254 is link-local" in (refused[0].error or "")


async def test_http_is_refused_at_delivery_once_it_is_no_longer_allowed(
    hooks_api: AsyncClient,
    committed: async_sessionmaker[AsyncSession],
    clock: Clock,
    headers: Headers,
    receiver: Receiver,
) -> None:
    await register(hooks_api, headers, receiver.url)
    await post(hooks_api, headers, order("acme", 1, 3))
    async with deliverer(committed, clock, webhook_allow_http=False) as worker:
        await worker.drain()
    [attempt] = await attempts(committed)
    assert attempt.outcome == "refused" and "must use https" in (attempt.error or "")
    assert receiver.requests == []
