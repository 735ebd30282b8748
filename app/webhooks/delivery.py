"""The worker's webhook job: take new events and due deliveries, send them, record what happened.

A pipeline, polled every `webhook_poll_seconds` and woken whenever a send finishes:

1. lease: queued events (`webhook_queue`, one narrow row per outbox event not dispatched yet),
   as many as there are free sending slots, leased for `webhook_lease_seconds` in a committed
   transaction (`FOR UPDATE SKIP LOCKED`: no other worker takes them meanwhile), each with the
   enabled endpoints subscribed to its type now; no delivery row is written yet;
2. claim: due deliveries (retries, replays, test pings), up to the free sending slots, leased the
   same way by pushing their next attempt to the end of the lease; an endpoint with
   `webhook_per_endpoint` sends in flight is passed over, so one slow endpoint cannot take every
   slot (an event's message to an endpoint that stays full for `SPILL_SECONDS` is not sent by the
   lease: it is recorded pending, for the claim);
3. send, each on its own: signed (Standard Webhooks, the current secret and the previous one
   during a rotation's overlap), `webhook-timestamp` from the wall clock, connect within 2 s,
   the whole exchange within 15 s, no redirect followed, every dialled address checked
   (app.webhooks.transport);
4. record, in one statement per kind: an event whose messages are all over leaves the queue and
   gets its deliveries as their first attempt left them (delivered, in the common case) with the
   attempts logged; a claimed delivery moves on. A 2xx is delivered; a 410 disables the endpoint;
   anything else is retried on the schedule (app.webhooks.schedule, `Retry-After` honoured), and
   an endpoint failing for `webhook_disable_after_seconds` (5 days) is disabled.

So a message delivered at its first attempt costs PostgreSQL the outbox row, a queue row inserted,
updated (HOT) and deleted, the delivery row and the attempt row, none of them updated afterwards.

A worker killed after leasing or claiming leaves its events queued (its deliveries due) again when
the lease ends: they are sent again with the same `webhook-id` (at least once). Per-endpoint
ordering is not promised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter, deque
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
# an event's message to an endpoint that has had no free slot for this long is left pending,
# for the claim, so the event's other messages are recorded and the lease moves on
SPILL_SECONDS = 1.0
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
        event_id=claim.event_id,
        endpoint_id=claim.endpoint_id,
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


def not_sent(claim: Claim, now: datetime) -> Result:
    """An event's message the lease did not send: its delivery is made pending, due now."""
    return Result(
        delivery_id=None,
        event_id=claim.event_id,
        endpoint_id=claim.endpoint_id,
        number=0,
        attempted_at=now,
        outcome="",
        status_code=None,
        duration_ms=0.0,
        error=None,
        response=None,
        status="pending",
        next_attempt_at=now,
        failure=None,
    )


Key = tuple[int, str, int | None]  # (event, endpoint, delivery): one send in flight


def key_of(claim: Claim) -> Key:
    return (claim.event_id, claim.endpoint_id, claim.delivery_id)


@dataclass
class Leased:
    """An event this worker leased: its messages' results, recorded once all are in."""

    messages: int
    results: list[tuple[Claim, Result]] = field(default_factory=list)


@dataclass
class Round:
    """What a worker did: for logs and tests."""

    dispatched: int = 0  # events taken from the queue
    started: int = 0
    recorded: int = 0
    disabled: list[str] = field(default_factory=list)
    # the lease and the claim ran with every slot free: finding nothing then means nothing is due
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
        self.in_flight: dict[Key, asyncio.Task[None]] = {}
        self.per_endpoint: Counter[str] = Counter()
        # claimed deliveries' results, to record
        self.finished: list[tuple[Claim, Result]] = []
        # leased events not recorded yet, and their messages waiting for a slot (since when)
        self.leased: dict[int, Leased] = {}
        self.waiting: deque[tuple[Claim, float]] = deque()
        self.sends = self.sends_reported = 0  # sends started, and how many a Round has reported
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

    def _free(self) -> int:
        return self.settings.webhook_concurrency - len(self.in_flight) - len(self.waiting)

    async def _lease(
        self, session: AsyncSession, now: datetime, taken: int
    ) -> dict[int, list[Claim]]:
        """Queued events for the slots `taken` claims leave free (none while leased messages
        still wait for one); those with nobody to send them to are recorded at once."""
        free = self._free() - taken
        if free <= 0 or self.waiting:
            return {}
        lease_until = now + timedelta(seconds=self.settings.webhook_lease_seconds)
        leased = await repository.lease(session, now, lease_until, free)
        if len(leased) < free:  # the queue is empty: look again at the next poll
            self.last_dispatch = time.monotonic()
        empty = [event_id for event_id, claims in leased.items() if not claims]
        await repository.record_events(session, empty, [], now)
        return leased

    def _took(self, leased: dict[int, list[Claim]]) -> None:
        """The leased events' messages wait for a slot (once the lease is committed)."""
        moment = time.monotonic()
        for event_id, claims in leased.items():
            if claims:
                self.leased[event_id] = Leased(len(claims))
                self.waiting.extend((claim, moment) for claim in claims)

    async def _claim(self, session: AsyncSession, now: datetime) -> list[Claim]:
        """Due deliveries for the free slots, at most `webhook_per_endpoint` in flight to one
        endpoint."""
        free = self._free()
        if free <= 0:
            return []
        cap = self.settings.webhook_per_endpoint
        room = {endpoint: cap - sending for endpoint, sending in self.per_endpoint.items()}
        lease_until = now + timedelta(seconds=self.settings.webhook_lease_seconds)
        return await repository.claim(session, now, lease_until, free, cap, room)

    def _start(self, claim: Claim) -> None:
        self.sends += 1
        self.per_endpoint[claim.endpoint_id] += 1
        self.in_flight[key_of(claim)] = asyncio.create_task(self._deliver(claim))

    def _start_waiting(self) -> int:
        """Start the leased messages that have a slot now; leave pending those whose endpoint
        has had no slot for `SPILL_SECONDS`. Returns how many started."""
        cap = self.settings.webhook_per_endpoint
        moment = time.monotonic()
        started, kept = 0, deque[tuple[Claim, float]]()
        for claim, since in self.waiting:
            free = self.settings.webhook_concurrency - len(self.in_flight)
            if free > 0 and self.per_endpoint[claim.endpoint_id] < cap:
                self._start(claim)
                started += 1
            elif moment - since >= SPILL_SECONDS:
                self._finish_leased(claim, not_sent(claim, self.now()))
            else:
                kept.append((claim, since))
        self.waiting = kept
        return started

    def _spill(self, endpoint_ids: set[str]) -> None:
        """Messages waiting for endpoints disabled (or about to be) are not sent: recorded
        failed, as the endpoint's pending deliveries are."""
        kept = deque[tuple[Claim, float]]()
        for claim, since in self.waiting:
            if claim.endpoint_id in endpoint_ids:
                self._finish_leased(claim, not_sent(claim, self.now()))
            else:
                kept.append((claim, since))
        self.waiting = kept

    def _finish_leased(self, claim: Claim, result: Result) -> None:
        leased = self.leased.get(claim.event_id)
        if leased is not None:
            leased.results.append((claim, result))

    async def _deliver(self, claim: Claim) -> None:
        try:
            sent = await self.sender.send(claim, self.now())
        except Exception as exc:  # a bug of ours: logged as an attempt, retried on schedule
            log.exception("sending event %s to %s failed", claim.event_id, claim.endpoint_id)
            sent = Sent("error", error=f"{type(exc).__name__} in winback")
        result = result_of(claim, sent, self.now(), self.rng)
        if claim.delivery_id is None:
            self._finish_leased(claim, result)
        else:
            self.finished.append((claim, result))
        del self.in_flight[key_of(claim)]
        self.per_endpoint[claim.endpoint_id] -= 1
        if self.per_endpoint[claim.endpoint_id] <= 0:
            del self.per_endpoint[claim.endpoint_id]
        if result.outcome == "gone":  # disabled when recorded: send it nothing more
            self._spill({claim.endpoint_id})
        self._start_waiting()  # a slot is free: the leased messages need no round trip
        self.wake.set()

    def _ready(self) -> dict[int, Leased]:
        """The leased events whose messages are all over."""
        ready = {
            e: leased for e, leased in self.leased.items() if len(leased.results) >= leased.messages
        }
        for event_id in ready:
            del self.leased[event_id]
        return ready

    async def _record(
        self,
        session: AsyncSession,
        done: list[tuple[Claim, Result]],
        events: dict[int, Leased],
        now: datetime,
    ) -> tuple[int, list[str], list[Result]]:
        """Log the attempts, make the events' deliveries and move the claimed ones on, and keep
        the endpoints' health: reachable again, failing from now, disabled (410, or failing too
        long). The endpoint statements run only when a claim saw a state this result changes
        (the SQL checks again), so a healthy endpoint costs no statement of its own. Returns
        (results recorded, endpoints disabled, the results whose attempt was logged)."""
        fresh = [pair for leased in events.values() for pair in leased.results]
        logged_pairs = await repository.record_events(
            session, list(events), [result for _, result in fresh], now
        )
        recorded = await repository.record(session, [result for _, result in done])
        logged = [r for _, r in done if r.delivery_id in recorded] + [
            r for _, r in fresh if r.number and (r.event_id, r.endpoint_id) in logged_pairs
        ]
        attempted = [(c, r) for c, r in [*done, *fresh] if r.number]
        delivered = {c.endpoint_id for c, r in attempted if r.outcome == "delivered"}
        failed = [(c, r) for c, r in attempted if r.outcome not in ("delivered", "gone")]
        cutoff = now - timedelta(seconds=self.settings.webhook_disable_after_seconds)
        reachable = {
            c.endpoint_id for c, r in attempted if r.outcome == "delivered" and c.failing_since
        }
        failing = {c.endpoint_id for c, _ in failed if c.failing_since is None} - delivered
        overdue = {
            c.endpoint_id for c, _ in failed if c.failing_since and c.failing_since <= cutoff
        } - delivered
        gone = sorted({c.endpoint_id for c, r in attempted if r.outcome == "gone"})
        await repository.mark_reachable(session, sorted(reachable))
        await repository.mark_failing(session, sorted(failing), now)
        disabled = await repository.disable(session, gone, "410 Gone", now)
        days = self.settings.webhook_disable_after_seconds / 86400
        reason = f"failing for {days:g} days"
        disabled += await repository.disable(session, sorted(overdue), reason, now, cutoff)
        return len(logged), disabled, logged

    async def record_finished(self) -> tuple[int, list[str]]:
        """Record every finished send (own transaction). Returns (recorded, disabled)."""
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
        """In one transaction: record the sends that finished, claim due deliveries for the free
        slots, lease queued events for the rest; then start sending what was taken."""
        done = Round()
        self._start_waiting()  # and leave pending what waited too long
        finished, self.finished = self.finished, []
        events = self._ready()
        now = self.now()
        if not (finished or events or dispatch or claim):
            return done
        try:
            async with self.sessionmaker() as session, session.begin():
                logged: list[Result] = []
                if finished or events:
                    done.recorded, done.disabled, logged = await self._record(
                        session, finished, events, now
                    )
                done.unhindered = claim and dispatch and not self.in_flight and not self.waiting
                claims = await self._claim(session, now) if claim else []
                leased = await self._lease(session, now, len(claims)) if dispatch else {}
        except BaseException:
            self.finished = finished + self.finished  # recorded next time (or sent again)
            self.leased.update(events)
            raise
        for result in logged:
            metrics.WEBHOOK_ATTEMPTS.labels(result.outcome).inc()
        for endpoint_id in done.disabled:
            log.warning("webhook endpoint %s disabled", endpoint_id)
        if done.disabled:
            self._spill(set(done.disabled))
        done.dispatched = len(leased)
        self._took(leased)
        for claimed in claims:
            self._start(claimed)
        self._start_waiting()
        # every send started since the last step (a finished one starts the next waiting message)
        done.started, self.sends_reported = self.sends - self.sends_reported, self.sends
        return done

    # --- driving it -------------------------------------------------------------------------

    def _busy(self) -> bool:
        return bool(self.in_flight or self.waiting or self.leased or self.finished)

    async def _wait_for_sends(self, at_most: float) -> None:
        """Until a send finishes, or `at_most` seconds (a leased message may have waited long
        enough to be left pending)."""
        if self.in_flight:
            running = set(self.in_flight.values())
            await asyncio.wait(running, timeout=at_most, return_when=asyncio.FIRST_COMPLETED)
        elif self.waiting:
            await asyncio.sleep(at_most)

    async def settle(self) -> Round:
        """Let every send in flight (and every leased message) finish, and record them."""
        while self.in_flight or self.waiting:
            await self._wait_for_sends(SPILL_SECONDS / 4)
            self._start_waiting()
        done = Round()
        if self.finished or self.leased:
            done.recorded, done.disabled = await self.record_finished()
        return done

    async def drain(self) -> Round:
        """Take and send everything due now, until nothing is due or in flight (a test, or
        `winback worker --once`). Retries scheduled later are left for later."""
        total = Round()
        while True:
            done = await self.step()
            total.dispatched += done.dispatched
            total.started += done.started
            total.recorded += done.recorded
            total.disabled += done.disabled
            if not self._busy() and not done.started and done.unhindered and not done.dispatched:
                return total
            await self._wait_for_sends(SPILL_SECONDS / 4)

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop` is set: step, then wait for a finished send, the poll interval or stop;
        at stop, the sends in flight finish and are recorded."""
        poll = self.settings.webhook_poll_seconds
        while not stop.is_set():
            self.wake.clear()  # a send finishing from here on wakes the wait below
            try:
                # the queue is looked at every poll, or at once while the last look filled up
                due = time.monotonic() - self.last_dispatch >= poll
                await self.step(dispatch=due)
                await self.purge()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away, a bug: the next step retries
                log.exception("webhook delivery step failed")
            waiters = [asyncio.ensure_future(self.wake.wait()), asyncio.ensure_future(stop.wait())]
            wait = min(poll, SPILL_SECONDS / 2) if self.waiting else poll
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if self.in_flight and not stop.is_set():
                await asyncio.sleep(GATHER_SECONDS)  # let more sends finish: one record for all
        await self.settle()
