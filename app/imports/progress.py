"""What an import shows while it runs: a progress bar (rich) on a terminal, plain lines otherwise
(a log, a pipe, CI), at most one every few seconds, so a long import leaves a readable trace."""

from __future__ import annotations

import sys
import time
from typing import Protocol, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class Reporter(Protocol):
    def loading(self, name: str, fmt: str, total_bytes: int) -> None: ...

    def loaded(self, rows: int, bytes_read: int) -> None: ...

    def folding(self, total: int) -> None: ...

    def folded(self, done: int) -> None: ...

    def step(self, name: str) -> None: ...

    def close(self) -> None: ...


def megabytes(size: int) -> str:
    return f"{size / 1_000_000:,.1f} MB"


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes} min {seconds:02d} s"


class Lines:
    """Plain progress lines: when a phase starts, then at most every `every` seconds."""

    def __init__(self, out: TextIO, every: float = 5.0) -> None:
        self.out = out
        self.every = every
        self._started = self._shown = time.monotonic()
        self._total = 0
        self._phase = ""
        self._ended = False  # the phase's last line is out

    def _print(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def _due(self, final: bool) -> bool:
        if self._ended:
            return False
        moment = time.monotonic()
        if final or moment - self._shown >= self.every:
            self._shown = moment
            self._ended = final
            return True
        return False

    def _begin(self, phase: str, total: int) -> None:
        self._phase, self._total, self._ended = phase, total, False
        self._started = self._shown = time.monotonic()

    def loading(self, name: str, fmt: str, total_bytes: int) -> None:
        self._begin("loading", total_bytes)
        self._print(f"import: {name} ({fmt}), {megabytes(total_bytes)}")

    def loaded(self, rows: int, bytes_read: int) -> None:
        final = bytes_read >= self._total
        if not self._due(final):
            return
        elapsed = time.monotonic() - self._started
        rate = rows / elapsed if elapsed > 0 else 0.0
        share = bytes_read / self._total if self._total else 1.0
        if final:
            self._print(f"  loaded {rows:,} rows in {duration(elapsed)} ({rate:,.0f} rows/s)")
            return
        eta = elapsed * (1 - share) / share if share else 0.0
        self._print(
            f"  loading: {share:6.1%}  {rows:,} rows  {rate:,.0f} rows/s  ETA {duration(eta)}"
        )

    def folding(self, total: int) -> None:
        self._begin("folding", total)
        self._print(f"  folding {total:,} clients from their events")

    def folded(self, done: int) -> None:
        final = done >= self._total
        if not self._due(final):
            return
        elapsed = time.monotonic() - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        if final:
            self._print(f"  folded {done:,} clients in {duration(elapsed)} ({rate:,.0f}/s)")
            return
        eta = (self._total - done) / rate if rate else 0.0
        self._print(
            f"  folding: {done / self._total:6.1%}  {done:,} clients  {rate:,.0f} clients/s  "
            f"ETA {duration(eta)}"
        )

    def step(self, name: str) -> None:
        self._print(f"  {name} ...")

    def close(self) -> None:
        pass


class Bar:
    """A rich progress bar: share, rows (or clients) per second, elapsed and remaining time."""

    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[count]:>12,} {task.fields[unit]}"),
            TextColumn("{task.fields[rate]:>9,.0f} {task.fields[unit]}/s"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console or Console(),
            transient=False,
        )
        self.progress.start()
        self._task: TaskID | None = None
        self._started = time.monotonic()

    def _begin(self, description: str, total: float | None, unit: str) -> None:
        if self._task is not None:
            self.progress.stop_task(self._task)
        self._started = time.monotonic()
        self._task = self.progress.add_task(description, total=total, count=0, rate=0.0, unit=unit)

    def _update(self, count: int, completed: float) -> None:
        if self._task is None:
            return
        elapsed = time.monotonic() - self._started
        rate = count / elapsed if elapsed > 0 else 0.0
        self.progress.update(self._task, completed=completed, count=count, rate=rate)

    def loading(self, name: str, fmt: str, total_bytes: int) -> None:
        self.progress.console.print(f"import: {name} ({fmt}), {megabytes(total_bytes)}")
        self._begin("loading", total_bytes, "rows")

    def loaded(self, rows: int, bytes_read: int) -> None:
        self._update(rows, bytes_read)

    def folding(self, total: int) -> None:
        self._begin("folding", total, "clients")

    def folded(self, done: int) -> None:
        self._update(done, done)

    def step(self, name: str) -> None:
        if self._task is not None:
            self.progress.stop_task(self._task)
            self._task = None
        self.progress.console.print(f"  {name} ...")

    def close(self) -> None:
        self.progress.stop()


def reporter_for(out: TextIO | None = None) -> Reporter:
    """A bar on a terminal, plain lines otherwise."""
    out = out or sys.stdout
    if out.isatty():
        return Bar(Console(file=out))
    return Lines(out)
