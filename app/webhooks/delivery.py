"""The worker's webhook job: dispatch the outbox, send what is due, record what happened.

A pipeline, polled every `webhook_poll_seconds` and woken whenever a send finishes:

1. dispatch: outbox rows not dispatched yet become one delivery per enabled endpoint subscribed
   to their type (`FOR UPDATE SKIP LOCKED`, so several workers share them);
2. claim: due deliveries, up to the free sending slots, leased for `webhook_lease_seconds` in a
   committed transaction (`SKIP LOCKED`: no other worker takes them meanwhile); an endpoint with
   `webhook_per_endpoint` sends in flight is passed over, so one slow endpoint cannot take every
   slot;
3. send, each on its own: signed (Standard Webhooks, the current secret and the previous one
   during a rotation's overlap), `webhook-timestamp` from the wall clock, connect within 2 s,
   the whole exchange within 15 s, no redirect followed, every dialled address checked
   (app.webhooks.transport);
4. record, all finished sends in one statement: a 2xx is delivered; a 410 disables the endpoint;
   anything else is retried on the schedule (app.webhooks.schedule, `Retry-After` honoured), and
   an endpoint failing for `webhook_disable_after_seconds` (5 days) is disabled.

A worker killed after claiming leaves its deliveries due again when the lease ends: they are sent
again with the same `webhook-id` (at least once). Per-endpoint ordering is not promised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.kit import metrics
from app.kit.time import utcnow
from app.webhooks import repository, schedule, signing, ssrf, transport
from app.webhooks.crypto import Unreadable, sealing_key, unseal
from app.webhooks.repository import Claim, Result
from app.webhooks.service import guard_of

log = logging.getLogger("winback.webhooks")

RESPONSE_CHARS = 200
RESPONSE_BYTES = 4096  # read at most this much of an answer
DISPATCH_BATCH = 1000
PURGE_EVERY_SECONDS = 3600.0
PURGE_BATCH = 1000
# after a send finishes, wait this long for others before recording: fewer, larger transactions
GATHER_SECONDS = 0.05
SECRETS_KEPT = 1000  # endpoints' opened secrets a worker keeps


@dataclass(frozen=True)
class Sent:
    """What one HTTP exchange came to."""

    outcome: schedule.Outcome
    status_code: int | None = None
    error: str | None = None
    response: str | None = None
    retry_after: float | None = None
    duration_ms: float = 0.0


class Sender:
    """Signs and POSTs one message; never raises for anything the endpoint or network does."""

    def __init__(
        self,
        guard: ssrf.Guard,
        key: bytes | Callable[[], bytes],
        connect_timeout: float,
        timeout: float,
        resolve: transport.Resolver = transport.system_resolver,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.guard = guard
        # the sealing key, read when a message is first signed: a worker with nothing to send
        # never creates a key file in its data directory
        self._key = key
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.wall = wall
        self.http = transport.client(guard, connect_timeout, timeout, resolve)
        self._secrets: dict[tuple[str, bytes], str] = {}

    async def aclose(self) -> None:
        await self.http.aclose()

    @property
    def key(self) -> bytes:
        if callable(self._key):
            self._key = self._key()
        return self._key

    def signing_secrets(self, claim: Claim, now: datetime) -> list[str]:
        """The current secret, and the previous one while its overlap lasts."""
        found = [self.unsealed(claim.secret_sealed, claim.endpoint_id)]
        expires = claim.previous_secret_expires_at
        if claim.previous_secret_sealed is not None and expires is not None and expires > now:
            found.append(self.unsealed(claim.previous_secret_sealed, claim.endpoint_id))
        return found

    def unsealed(self, sealed: bytes, endpoint_id: str) -> str:
        """A secret opened once per worker, not per message (a rotation seals a new one)."""
        opened = self._secrets.get((endpoint_id, sealed))
        if opened is None:
            if len(self._secrets) >= SECRETS_KEPT:
                self._secrets.clear()
            opened = self._secrets[(endpoint_id, sealed)] = unseal(self.key, sealed, endpoint_id)
        return opened

    async def send(self, claim: Claim, now: datetime) -> Sent:
        started = time.perf_counter()
        sent = await self._send(claim, now)
        return replace(sent, duration_ms=round((time.perf_counter() - started) * 1000, 1))

    async def _send(self, claim: Claim, now: datetime) -> Sent:
        why = self.guard.url_refusal(claim.url)  # the rules may have changed since registration
        if why:
            return Sent("refused", error=f"refused: the url {why}")
        try:
            signing_secrets = self.signing_secrets(claim, now)
        except Unreadable:
            return Sent(
                "error",
                error="the endpoint's secret cannot be decrypted (the server's secret key "
                "changed?): rotate the endpoint's secret",
            )
        body = claim.body.encode()
        headers = {
            **signing.headers(claim.webhook_id, int(self.wall()), body, signing_secrets),
            "content-type": "application/json",
        }
        try:
            async with asyncio.timeout(self.timeout):
                answer = await self.http.post(claim.url, body, headers, RESPONSE_BYTES)
        except transport.Blocked as exc:
            return Sent("refused", error=f"refused: {exc}")
        except transport.InvalidURL as exc:
            return Sent("error", error=f"invalid URL: {exc}")
        except transport.ConnectTimeout:
            return Sent("timeout", error=f"waited over {self.connect_timeout:g} s to connect")
        except (TimeoutError, transport.ReadTimeout):
            return Sent("timeout", error=f"waited over {self.timeout:g} s for an answer")
        except transport.NetworkError as exc:
            return Sent("network_error", error=str(exc)[:500])
        return answered(answer, now)


def answered(answer: transport.Answer, now: datetime) -> Sent:
    """What an endpoint's answer means for the delivery."""
    code = answer.status_code
    text = answer.body.decode("utf-8", "replace").replace("\x00", "")[:RESPONSE_CHARS] or None
    outcome = schedule.outcome_of(code)
    error = None
    if outcome == "gone":
        error = "410 Gone: the endpoint asked to be disabled"
    elif outcome != "delivered":
        error = f"HTTP {code}"
        if 300 <= code < 400:
            location = answer.headers.get("location", "")[:300]
            error += f": redirect to {location or '(no location)'} not followed"
    retry_after = None
    if code in (429, 503):
        retry_after = schedule.retry_after_seconds(answer.headers.get("retry-after"), now)
    return Sent(outcome, code, error, text, retry_after)


def result_of(claim: Claim, sent: Sent, now: datetime, rng: random.Random) -> Result:
    """The attempt as the log records it, and what becomes of the delivery."""
    number = claim.attempts + 1
    status, next_at, failure = "delivered", None, None
    if sent.outcome == "gone":
        status, failure = "failed", "410 Gone: the endpoint was disabled"
    elif sent.outcome != "delivered":
        next_at = schedule.next_attempt(number, now, rng, sent.retry_after)
        if next_at is None:
            status, failure = "failed", f"gave up after {number} attempts"
        else:
            status = "pending"
    return Result(
        delivery_id=claim.delivery_id,
        number=number,
        attempted_at=now,
        outcome=sent.outcome,
        status_code=sent.status_code,
        duration_ms=sent.duration_ms,
        error=sent.error,
        response=sent.response,
        status=status,
        next_attempt_at=next_at,
        failure=failure,
    )


@dataclass
class Round:
    """What a worker did: for logs and tests."""

    dispatched: int = 0
    started: int = 0
    recorded: int = 0
    disabled: list[str] = field(default_factory=list)
    # the claim ran with every slot free: finding nothing then means nothing is due
    unhindered: bool = False


class Deliverer:
    """The pipeline of one worker. `now` is the scheduling clock (tests move it); the signature's
    timestamp always comes from the wall clock, which receivers compare with theirs."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        now: Callable[[], datetime] = utcnow,
        sender: Sender | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.now = now
        self.sender = sender or Sender(
            guard_of(settings),
            lambda: sealing_key(settings),
            settings.webhook_connect_timeout_seconds,
            settings.webhook_timeout_seconds,
        )
        self.rng = rng or random.Random()
        self.in_flight: dict[int, asyncio.Task[None]] = {}
        self.per_endpoint: Counter[str] = Counter()
        self.finished: list[tuple[Claim, Result]] = []
        self.wake = asyncio.Event()
        self.last_purge = float("-inf")
        self.last_dispatch = float("-inf")

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, exc_type: object, *exc: object) -> None:
        try:
            if exc_type is None:
                await self.settle()
        finally:
            for task in self.in_flight.values():  # cancelled: sent again when the lease ends
                task.cancel()
            await self.sender.aclose()

    # --- the steps --------------------------------------------------------------------------

    async def dispatch(self) -> int:
        """Make the deliveries of every undispatched outbox row (own transaction)."""
        async with self.sessionmaker() as session, session.begin():
            return await self._dispatch(session, self.now())

    async def _dispatch(self, session: AsyncSession, now: datetime) -> int:
        total = 0
        while True:
            events, _ = await repository.dispatch(session, now, DISPATCH_BATCH)
            total += events
            if events < DISPATCH_BATCH:
                self.last_dispatch = time.monotonic()
                return total

    async def _claim(self, session: AsyncSession, now: datetime) -> list[Claim]:
        """Due deliveries for the free slots, at most `webhook_per_endpoint` in flight to one
        endpoint."""
        free = self.settings.webhook_concurrency - len(self.in_flight)
        if free <= 0:
            return []
        cap = self.settings.webhook_per_endpoint
        room = {endpoint: cap - sending for endpoint, sending in self.per_endpoint.items()}
        lease_until = now + timedelta(seconds=self.settings.webhook_lease_seconds)
        return await repository.claim(session, now, lease_until, free, cap, room)

    async def _deliver(self, claim: Claim) -> None:
        try:
            sent = await self.sender.send(claim, self.now())
        except Exception as exc:  # a bug of ours: logged as an attempt, retried on schedule
            log.exception("sending delivery %s failed", claim.delivery_id)
            sent = Sent("error", error=f"{type(exc).__name__} in winback")
        self.finished.append((claim, result_of(claim, sent, self.now(), self.rng)))
        del self.in_flight[claim.delivery_id]
        self.per_endpoint[claim.endpoint_id] -= 1
        if self.per_endpoint[claim.endpoint_id] <= 0:
            del self.per_endpoint[claim.endpoint_id]
        self.wake.set()

    async def _record(
        self, session: AsyncSession, done: list[tuple[Claim, Result]], now: datetime
    ) -> tuple[set[int], list[str]]:
        """Log the attempts, move the deliveries on, and keep the endpoints' health: reachable
        again, failing from now, disabled (410, or failing too long). The endpoint statements
        run only when a claim saw a state this result changes (the SQL checks again), so a
        healthy endpoint costs one statement per group of results."""
        recorded = await repository.record(session, [result for _, result in done])
        delivered = {c.endpoint_id for c, r in done if r.outcome == "delivered"}
        failed = [(c, r) for c, r in done if r.outcome not in ("delivered", "gone")]
        cutoff = now - timedelta(seconds=self.settings.webhook_disable_after_seconds)
        reachable = {c.endpoint_id for c, r in done if r.outcome == "delivered" and c.failing_since}
        failing = {c.endpoint_id for c, _ in failed if c.failing_since is None} - delivered
        overdue = {
            c.endpoint_id for c, _ in failed if c.failing_since and c.failing_since <= cutoff
        } - delivered
        gone = sorted({c.endpoint_id for c, r in done if r.outcome == "gone"})
        await repository.mark_reachable(session, sorted(reachable))
        await repository.mark_failing(session, sorted(failing), now)
        disabled = await repository.disable(session, gone, "410 Gone", now)
        days = self.settings.webhook_disable_after_seconds / 86400
        reason = f"failing for {days:g} days"
        disabled += await repository.disable(session, sorted(overdue), reason, now, cutoff)
        return recorded, disabled

    async def record_finished(self) -> tuple[int, list[str]]:
        """Record every finished send (own transaction). Returns (recorded, disabled)."""
        if not self.finished:
            return 0, []
        done = await self.step(dispatch=False, claim=False)
        return done.recorded, done.disabled

    async def purge(self) -> int:
        """Forget outbox events older than the retention, once an hour."""
        if time.monotonic() - self.last_purge < PURGE_EVERY_SECONDS:
            return 0
        self.last_purge = time.monotonic()
        before = self.now() - timedelta(days=self.settings.webhook_retention_days)
        total = 0
        while True:
            async with self.sessionmaker() as session, session.begin():
                deleted = await repository.purge(session, before, PURGE_BATCH)
            total += deleted
            if deleted < PURGE_BATCH:
                return total

    async def step(self, dispatch: bool = True, claim: bool = True) -> Round:
        """In one transaction: record the sends that finished, dispatch new outbox rows, claim
        due deliveries for the free slots; then start sending what was claimed."""
        done = Round()
        finished, self.finished = self.finished, []
        now = self.now()
        try:
            async with self.sessionmaker() as session, session.begin():
                recorded: set[int] = set()
                if finished:
                    recorded, done.disabled = await self._record(session, finished, now)
                if dispatch:
                    done.dispatched = await self._dispatch(session, now)
                done.unhindered = claim and not self.in_flight
                claims = await self._claim(session, now) if claim else []
        except BaseException:
            self.finished = finished + self.finished  # recorded next time (or sent again)
            raise
        done.recorded = len(recorded)
        for _, result in finished:
            if result.delivery_id in recorded:
                metrics.WEBHOOK_ATTEMPTS.labels(result.outcome).inc()
        for endpoint_id in done.disabled:
            log.warning("webhook endpoint %s disabled", endpoint_id)
        for claimed in claims:
            self.per_endpoint[claimed.endpoint_id] += 1
            self.in_flight[claimed.delivery_id] = asyncio.create_task(self._deliver(claimed))
        done.started = len(claims)
        return done

    # --- driving it -------------------------------------------------------------------------

    async def settle(self) -> Round:
        """Let every send in flight finish, and record them."""
        if self.in_flight:
            await asyncio.gather(*self.in_flight.values(), return_exceptions=True)
        done = Round()
        done.recorded, done.disabled = await self.record_finished()
        return done

    async def drain(self) -> Round:
        """Dispatch and send everything due now, until nothing is due or in flight (a test, or
        `winback worker --once`). Retries scheduled later are left for later."""
        total = Round()
        while True:
            done = await self.step()
            total.dispatched += done.dispatched
            total.started += done.started
            total.recorded += done.recorded
            total.disabled += done.disabled
            if not self.in_flight and not done.started and done.unhindered:
                settled = await self.settle()
                total.recorded += settled.recorded
                total.disabled += settled.disabled
                return total
            if self.in_flight:
                running = set(self.in_flight.values())
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: step, then wait for a finished send, the poll interval or stop;
        at stop, the sends in flight finish and are recorded."""
        poll = self.settings.webhook_poll_seconds
        while not stop.is_set():
            self.wake.clear()  # a send finishing from here on wakes the wait below
            try:
                # new outbox rows are looked for every poll, not at each finished send
                due = time.monotonic() - self.last_dispatch >= poll
                await self.step(dispatch=due)
                await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away, a bug: the next step retries
                log.exception("webhook delivery step failed")
            waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(poll):
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if self.in_flight and not stop.is_set():
                await asyncio.sleep(GATHER_SECONDS)  # let more sends finish: one record for all
        await self.settle()
