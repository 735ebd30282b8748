"""Reliability a user relies on, with real processes (issue 11):

- a `winback serve` killed with SIGKILL under concurrent load loses no event it acknowledged, and
  every client's stored state equals a re-fold of its stored events;
- a worker killed mid-sweep leaves no client stale once it runs again;
- SIGTERM lets in-flight requests finish before the process exits;
- the database out of reach gives 503 + Retry-After within the configured timeouts (never a
  hang, never a 500), /readyz says not ready, and the service recovers by itself.
"""

import asyncio
import contextlib
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.churn.engine import evaluate
from app.churn.facts import from_json
from app.clients.models import Client
from app.clients.service import facts_from_events
from app.events import repository as events_repository
from app.events.models import Event
from app.policy.schemas import Policy
from tests.conftest import ROOT
from tests.ops.test_serve import free_port

ADMIN_KEY = "wbk_reliabilitytest_" + "k" * 32


class Server:
    """A `winback serve` (or `winback worker`) subprocess on the test database."""

    def __init__(self, database_url: str, *args: str, **env: str) -> None:
        self.port = free_port()
        self.args = args
        self.env = {
            "WINBACK_DATABASE_URL": database_url,
            "WINBACK_ADMIN_KEY": ADMIN_KEY,
            "PATH": "/usr/bin:/bin",
            **env,
        }
        self.process: subprocess.Popen[str] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, command: str = "serve") -> "Server":
        extra = ["--port", str(self.port), "--no-worker", "--quiet"] if command == "serve" else []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", command, *extra, *self.args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if command == "serve":
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with contextlib.suppress(httpx.TransportError):
                    if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                        return self
                assert self.process.poll() is None, self.output()
                time.sleep(0.1)
            raise AssertionError("serve did not start: " + self.output())
        return self

    def output(self) -> str:
        if self.process is None or self.process.poll() is None:
            return ""
        assert self.process.stdout is not None
        return self.process.stdout.read()

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=20)


@contextlib.contextmanager
def running(server: Server, command: str = "serve") -> Iterator[Server]:
    try:
        yield server.start(command)
    finally:
        server.stop()


def order(event_id: str, client_id: str, days_ago: float) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "order.placed",
        "occurred_at": (datetime.now(UTC) - timedelta(days=days_ago)).isoformat(),
        "client_id": client_id,
        "data": {"order_id": f"o-{event_id}", "amount": "25.00"},
    }


AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


async def load(base: str, acknowledged: set[str], stop: asyncio.Event, senders: int = 16) -> None:
    """Concurrent senders, events in and out of time order over a few clients, until stopped or
    the server is gone; the ids answered with a 2xx go into `acknowledged`."""

    async def sender(number: int) -> None:
        rng = random.Random(number)
        async with httpx.AsyncClient(base_url=base, headers=AUTH, timeout=10) as client:
            k = 0
            while not stop.is_set():
                k += 1
                event = order(f"s{number}-{k}", f"c{rng.randrange(40)}", rng.uniform(0, 200))
                try:
                    response = await client.post("/v1/events", json=event)
                except httpx.TransportError:
                    return  # the server is gone
                if response.status_code in (200, 201):
                    acknowledged.add(event["id"])

    await asyncio.gather(*(sender(n) for n in range(senders)))


async def assert_state_is_a_fold_of_stored_events(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> int:
    async with sessionmaker() as session:
        clients = (await session.execute(select(Client))).scalars().all()
        history = await events_repository.bodies_for_clients(
            session, [c.client_id for c in clients]
        )
        for client in clients:
            refold = facts_from_events(history[client.client_id])
            assert from_json(client.facts) == refold, client.client_id
            state = evaluate(refold, Policy(), client.evaluated_at)
            assert (client.orders_count, client.lifetime_revenue) == (
                state.orders_count,
                state.lifetime_revenue,
            ), client.client_id
        return len(clients)


async def test_sigkill_under_load_loses_no_acknowledged_event(
    database_url: str, committed: async_sessionmaker[AsyncSession]
) -> None:
    acknowledged: set[str] = set()
    with running(Server(database_url)) as server:
        stop = asyncio.Event()
        loader = asyncio.create_task(load(server.base, acknowledged, stop))
        deadline = time.monotonic() + 60
        # a loaded machine is slow: wait for enough acknowledged events rather than a fixed time
        while len(acknowledged) < 200 and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        server.signal(signal.SIGKILL)  # mid-stream: requests are in flight
        server.wait()
        stop.set()
        await asyncio.wait_for(loader, timeout=30)
    assert len(acknowledged) >= 200, "the load did not get going"
    async with committed() as session:
        stored = set((await session.execute(select(Event.id))).scalars())
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}"
    assert await assert_state_is_a_fold_of_stored_events(committed) > 0
    # and the restarted service serves them
    with running(Server(database_url)) as again:
        async with httpx.AsyncClient(base_url=again.base, headers=AUTH) as client:
            answer = await client.get("/v1/stats")
            assert answer.status_code == 200
            async with committed() as session:
                clients = await session.scalar(select(text("count(*)")).select_from(Client))
            assert answer.json()["clients"] == clients


async def test_a_worker_killed_mid_sweep_leaves_no_client_stale(
    database_url: str, committed: async_sessionmaker[AsyncSession]
) -> None:
    with running(Server(database_url)) as server:
        async with httpx.AsyncClient(base_url=server.base, headers=AUTH, timeout=30) as client:
            events = [
                order(f"w{i}-{k}", f"w{i}", 300 - 30 * k) for i in range(1500) for k in range(3)
            ]
            for start in range(0, len(events), 1000):
                answer = await client.post("/v1/events/batch", json=events[start : start + 1000])
                assert answer.status_code == 200 and answer.json()["rejected"] == 0
    # every client due now, as if their review time had come
    async with committed() as session, session.begin():
        await session.execute(
            update(Client).values(next_review_at=text("now() - interval '1 day'"))
        )
    worker = Server(database_url, WINBACK_SWEEP_BATCH_SIZE="50")
    with running(worker, "worker"):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # kill it once it has swept some, not all
            async with committed() as session:
                due = await session.scalar(
                    select(text("count(*)"))
                    .select_from(Client)
                    .where(Client.next_review_at <= text("now()"))
                )
            if due is not None and 0 < due < 1400:
                break
            await asyncio.sleep(0.05)
        worker.signal(signal.SIGKILL)
        worker.wait()
    assert (due or 0) > 0, "the worker finished before it could be killed mid-sweep"
    once = Server(database_url, "--once")
    with running(once, "worker"):
        assert once.wait(timeout=120) == 0, once.output()
    async with committed() as session:
        stale = await session.scalar(
            select(text("count(*)"))
            .select_from(Client)
            .where(Client.next_review_at <= text("now()"))
        )
        statuses = set((await session.execute(select(Client.status))).scalars())
    assert stale == 0
    assert statuses <= {"at_risk", "lost"}  # 210 days after a 30-day cycle: all lapsed
    await assert_state_is_a_fold_of_stored_events(committed)


async def test_sigterm_lets_in_flight_requests_finish(
    database_url: str, committed: async_sessionmaker[AsyncSession]
) -> None:
    with running(Server(database_url)) as server:
        batch = [order(f"t{k}", f"t{k % 300}", k % 200) for k in range(1000)]
        async with httpx.AsyncClient(base_url=server.base, headers=AUTH, timeout=60) as client:
            request = asyncio.create_task(client.post("/v1/events/batch", json=batch))
            await asyncio.sleep(0.05)  # the batch is being applied
            server.signal(signal.SIGTERM)
            answer = await request
            assert server.wait(timeout=60) == 128 + signal.SIGTERM
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 1000
    async with committed() as session:
        assert await session.scalar(select(text("count(*)")).select_from(Event)) == 1000


class Proxy:
    """A TCP forwarder between the server and PostgreSQL: `down()` is a database outage (the
    port refuses, open connections are cut), `up()` brings it back on the same port."""

    def __init__(self, upstream: tuple[str, int] | str) -> None:
        self.upstream = upstream  # (host, port), or the path of a Unix socket
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self.lock = threading.Lock()

    def up(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self.lock:
            if self.listener is not None:
                # shutdown wakes the thread blocked in accept(); close alone would leave the
                # port listening until accept returned
                with contextlib.suppress(OSError):
                    self.listener.shutdown(socket.SHUT_RDWR)
                self.listener.close()
                self.listener = None
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                downstream, _ = listener.accept()
            except OSError:
                return
            try:
                if isinstance(self.upstream, str):
                    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    upstream.connect(self.upstream)
                else:
                    upstream = socket.create_connection(self.upstream)
            except OSError:
                downstream.close()
                continue
            with self.lock:
                self.sockets += [downstream, upstream]
            for a, b in ((downstream, upstream), (upstream, downstream)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)


async def test_a_database_outage_is_a_503_then_the_service_recovers_by_itself(
    database_url: str, committed: async_sessionmaker[AsyncSession]
) -> None:
    url = make_url(database_url)
    socket_dir = url.query.get("host")  # the embedded server listens on a Unix socket only
    if socket_dir:
        proxy = Proxy(f"{socket_dir}/.s.PGSQL.{url.port or 5432}")
    else:
        proxy = Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.up()
    through_proxy = (
        url.difference_update_query(["host"])
        .set(host="127.0.0.1", port=proxy.port)
        .render_as_string(hide_password=False)
    )
    server = Server(
        through_proxy,
        WINBACK_DB_CONNECT_TIMEOUT_SECONDS="2",
        WINBACK_DB_POOL_TIMEOUT_SECONDS="3",
        WINBACK_DB_STATEMENT_TIMEOUT_SECONDS="3",
    )
    try:
        with running(server):
            async with httpx.AsyncClient(base_url=server.base, headers=AUTH, timeout=20) as client:
                assert (
                    await client.post("/v1/events", json=order("d1", "d", 5))
                ).status_code == 201
                proxy.down()
                started = time.monotonic()
                during = [
                    await client.post("/v1/events", json=order(f"d{k}", "d", 4)) for k in (2, 3)
                ]
                ready = await client.get("/readyz")
                elapsed = time.monotonic() - started
                assert [a.status_code for a in during] == [503, 503], [a.text for a in during]
                assert all(a.headers.get("retry-after") for a in during)
                assert all(a.json()["type"].endswith("/service-unavailable") for a in during)
                assert ready.status_code == 503
                assert elapsed < 15, f"requests hung for {elapsed:.1f} s"
                proxy.up()
                recovered = None
                for _ in range(20):  # the pool drops dead connections and makes new ones
                    recovered = await client.post("/v1/events", json=order("d9", "d", 3))
                    if recovered.status_code == 201:
                        break
                    await asyncio.sleep(0.25)
                assert recovered is not None and recovered.status_code == 201, recovered.text
                assert (await client.get("/readyz")).status_code == 200
    finally:
        proxy.down()
    async with committed() as session:
        ids = set((await session.execute(select(Event.id))).scalars())
    assert ids == {"d1", "d9"}  # nothing half-stored from the requests that failed
