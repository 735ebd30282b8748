"""One import run: read, validate and load the file in chunks, re-fold the clients it touched,
run the finishing steps the caller gives (the CLI: population refresh, then sweep), write the
refused rows to the errors file, and say what happened.

Each chunk commits whole (its events, the clients they create and the marks on their facts), so
a run stopped half-way leaves whole chunks behind, and re-running the same file completes it:
the stored events count as duplicates, and every client still marked is re-folded. Should no
re-run come, the worker's facts upgrade re-folds the marked clients (the mark is an old fold).

For a large file the reading and validation run in a child process, so that they overlap
PostgreSQL's work on the previous chunk (the machine's two cores are both used).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import multiprocessing
import os
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.churn.facts import FACTS_VERSION
from app.clients import repository as clients_repository
from app.db import create_engine, create_sessionmaker
from app.imports import loader
from app.imports.prepare import Chunk, ReadOptions, Rejected, inspect, read_chunks
from app.imports.progress import Reporter
from app.imports.readers import Format
from app.policy.schemas import Policy
from app.policy.service import load_snapshot

FORMAT_NAMES = {
    "events": "winback event JSON lines",
    "orders": "orders CSV, mapped columns",
    "shopify": "Shopify order export",
}
ERRORS_HEADER = ("line", "id", "field", "reason")
# Files larger than this are read and validated in a child process (spawning one costs ~1 s);
# as many clients to fold as this, and a child process folds beside this one.
PARALLEL_BYTES = 4_000_000
PARALLEL_CLIENTS = 20_000
REFOLD_BATCH = 2_000

Step = tuple[str, Callable[[], Awaitable[Any]]]


class ImportFailed(RuntimeError):
    """The reading process failed (its message says why)."""


@dataclass
class ImportSummary:
    path: Path
    format: Format
    rows: int = 0  # rows read: events, orders, further line items, refused rows
    line_items: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0  # lines in the errors file: refused rows and conflicting events
    clients_touched: int = 0  # clients of the events accepted now
    clients_folded: int = 0  # clients re-folded (those touched, and any left by a stopped run)
    errors_path: Path | None = None  # written when something was refused
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def __str__(self) -> str:
        items = f" ({self.line_items:,} further line items)" if self.line_items else ""
        rejected = f"{self.rejected:,}"
        if self.errors_path is not None:
            rejected += f" (see {self.errors_path}: line, id, field, reason)"
        rate = self.rows / self.seconds if self.seconds else 0.0
        steps = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.steps.items())
        return "\n".join(
            [
                f"winback import: {self.path} ({FORMAT_NAMES[self.format]})",
                f"  rows read         {self.rows:,}{items}",
                f"  events accepted   {self.accepted:,}",
                f"  duplicates        {self.duplicates:,}",
                f"  rejected          {rejected}",
                f"  clients touched   {self.clients_touched:,} "
                f"({self.clients_folded:,} re-folded from their events)",
                f"  time              {self.seconds:.1f} s ({rate:,.0f} rows/s; {steps})",
            ]
        )


def default_errors_path(path: Path) -> Path:
    return path.with_name(path.name + ".errors.csv")


class ErrorsFile:
    """Refused rows, as CSV (line, id, field, reason); created at the first refusal. A run that
    refuses nothing removes the file an earlier run left there, so it never shows stale rows."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._out: TextIO | None = None
        self._writer: Any = None

    def write(self, rejected: Sequence[Rejected]) -> None:
        if not rejected:
            return
        if self._out is None:
            self._out = self.path.open("w", newline="", encoding="utf-8")
            self._writer = csv.writer(self._out)
            self._writer.writerow(ERRORS_HEADER)
        for item in sorted(rejected, key=lambda r: r.line):
            self._writer.writerow((item.line, item.id or "", item.field, item.reason))
        self._out.flush()
        self.count += len(rejected)

    def close(self) -> Path | None:
        if self._out is not None:
            self._out.close()
            return self.path
        self.path.unlink(missing_ok=True)
        return None


# --- where chunks come from: this process, or a child process reading ahead --------------------


def _produce(
    queue: Any, path: Path, options: ReadOptions, policy: Policy, now: datetime
) -> None:  # pragma: no cover - runs in the child process
    try:
        _, chunks = read_chunks(path, options, policy, now)
        for chunk in chunks:
            queue.put(chunk)
        queue.put(None)
    except BaseException as exc:
        queue.put(f"{type(exc).__name__}: {exc}")


async def _in_child(
    path: Path, options: ReadOptions, policy: Policy, now: datetime
) -> AsyncGenerator[Chunk, None]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue(maxsize=2)  # reads ahead by two chunks at most
    process = context.Process(
        target=_produce, args=(queue, path, options, policy, now), name="winback-import-reader"
    )
    process.start()

    def take() -> Any:
        while True:
            try:
                return queue.get(timeout=1.0)
            except Exception:  # queue.Empty: still working, unless it died
                if not process.is_alive():
                    return f"the reading process ended unexpectedly (exit {process.exitcode})"

    try:
        while True:
            item = await asyncio.to_thread(take)
            if item is None:
                return
            if isinstance(item, str):
                raise ImportFailed(item)
            yield item
    finally:
        if process.is_alive():
            process.terminate()  # our own child: stopped early (an error, or Ctrl-C)
        process.join(timeout=10)


async def _in_process(chunks: Iterator[Chunk]) -> AsyncGenerator[Chunk, None]:
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)


def chunks_of(
    path: Path, options: ReadOptions, policy: Policy, now: datetime, parallel: bool | None
) -> tuple[Format, int, AsyncGenerator[Chunk, None]]:
    """The file's format, its size and its chunks: read here, or by a child process."""
    size = path.stat().st_size
    if parallel is None:
        parallel = (os.cpu_count() or 1) > 1 and size > PARALLEL_BYTES
    if not parallel:
        fmt, chunks = read_chunks(path, options, policy, now)
        return fmt, size, _in_process(chunks)
    fmt = inspect(path, options)
    return fmt, size, _in_child(path, replace(options, format=fmt), policy, now)


# --- folding in a child process too ----------------------------------------------------------


def _fold(url: str, now: datetime, counter: Any) -> None:  # pragma: no cover - child process
    """A child process's share of the fold: its own engine, workers that pass over the rows the
    parent's workers hold (the parent waits for what is left once this process has ended)."""

    async def run() -> None:
        engine = create_engine(url, pool_size=2, max_overflow=0)
        try:

            def progress(done: int) -> None:
                counter.value = done

            await loader.refold(
                create_sessionmaker(engine), now, REFOLD_BATCH, progress, final_pass=False
            )
        finally:
            await engine.dispose()

    asyncio.run(run())


async def refold_all(
    sessionmaker: async_sessionmaker[AsyncSession],
    now: datetime,
    reporter: Reporter,
    helper: bool,
) -> int:
    """Every client marked (or of an older fold) re-folded, assessed and stored; with `helper`,
    a child process folds beside this one (the fold is Python-bound: two cores, two folders)."""
    engine = sessionmaker.kw.get("bind")
    if not helper or engine is None:
        return await loader.refold(sessionmaker, now, REFOLD_BATCH, reporter.folded)
    context = multiprocessing.get_context("spawn")
    counter = context.Value("q", 0)
    url = engine.url.render_as_string(hide_password=False)
    process = context.Process(target=_fold, args=(url, now, counter), name="winback-import-fold")
    process.start()
    try:
        here = await loader.refold(
            sessionmaker,
            now,
            REFOLD_BATCH,
            lambda done: reporter.folded(done + counter.value),
            final_pass=False,
        )
        await asyncio.to_thread(process.join)
    finally:
        if process.is_alive():
            process.terminate()  # our own child: stopped early (an error, or Ctrl-C)
            process.join(timeout=10)
    there = counter.value
    # what neither got (rows another writer held, or the child's share if it failed)
    left = await loader.refold(sessionmaker, now, REFOLD_BATCH, lambda done: None, workers=1)
    done = here + there + left
    reporter.folded(done)
    return done


# --- the run -------------------------------------------------------------------------------------


async def import_file(
    sessionmaker: async_sessionmaker[AsyncSession],
    path: Path,
    options: ReadOptions,
    now: datetime,
    reporter: Reporter,
    finish: Sequence[Step] = (),
    errors_path: Path | None = None,
    parallel: bool | None = None,
) -> ImportSummary:
    """Import the file; raises FormatError or OSError before loading anything when the file
    cannot be read as asked. `finish`: named steps run at the end, timed in the summary."""
    started = time.monotonic()
    async with sessionmaker() as session:
        snapshot = await load_snapshot(session)
    fmt, size, chunks = chunks_of(path, options, snapshot.policy, now, parallel)
    summary = ImportSummary(path, fmt)
    errors = ErrorsFile(errors_path or default_errors_path(path))
    touched: set[str] = set()
    reporter.loading(path.name, FORMAT_NAMES[fmt], size)
    try:
        async with contextlib.aclosing(chunks):  # a failure stops the reading process at once
            async for chunk in chunks:
                async with sessionmaker() as session, session.begin():
                    outcome = await loader.load_chunk(session, chunk, snapshot, now)
                errors.write(chunk.rejected + outcome.conflicts)
                summary.rows += chunk.rows
                summary.line_items += chunk.line_items
                summary.accepted += outcome.accepted
                summary.duplicates += outcome.duplicates
                touched |= outcome.clients
                reporter.loaded(summary.rows, chunk.bytes_read)
        summary.steps["loading"] = time.monotonic() - started
        summary.clients_touched = len(touched)
        summary.rejected = errors.count

        moment = time.monotonic()
        async with sessionmaker() as session:
            stale = await clients_repository.clients_with_old_facts(session, FACTS_VERSION)
        reporter.folding(stale)
        helper = parallel is True or (
            parallel is None and (os.cpu_count() or 1) > 1 and stale >= PARALLEL_CLIENTS
        )
        summary.clients_folded = await refold_all(sessionmaker, now, reporter, helper)
        summary.steps["folding"] = time.monotonic() - moment

        for name, run in finish:
            moment = time.monotonic()
            reporter.step(name)
            await run()
            summary.steps[name] = time.monotonic() - moment
    finally:
        summary.errors_path = errors.close()
        reporter.close()
    summary.seconds = time.monotonic() - started
    return summary
