"""The scenario registry and the runner of `python -m bench`.

A scenario is one decorated async function that takes the run's `Bench` and returns typed rows:

    @scenario("h", "winback import of a 100,000-client file")
    async def import_file(bench: Bench) -> list[Row]:
        ...
        return [Row("h", "import", rate, "events/s", target=Target(min_value=50_000))]

The runner runs the selected scenarios in the order they were registered, sets each row's ratio
to its reference (the first row of the scenario it names, measured in the same run) and its
verdict against its target, prints the table, and can write it as JSON and as the markdown
table of docs/performance.md. Setup several scenarios share (a populated winback server) is a
resource: `await bench.shared(name, factory)` enters it on first use and leaves it at the end.
A scenario's own command-line flags are declared next to it with `option(...)`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import json
import math
import os
import secrets
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from app.kit import collector
from bench import common

SCENARIO_MODULES = ("bench.scenarios", "bench.webhooks")
T = TypeVar("T")


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


# --- rows --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What SPEC §13 asks of a row; each bound left None does not apply."""

    min_value: float | None = None
    max_value: float | None = None
    max_p99_ms: float | None = None
    min_ratio: float | None = None  # to the row's reference

    def text(self, unit: str, reference: str | None) -> str:
        parts = []
        if self.min_ratio is not None:
            parts.append(f">= {self.min_ratio:g} x ({reference})")
        if self.min_value is not None:
            parts.append(f">= {self.min_value:,g} {unit}")
        if self.max_value is not None:
            parts.append(f"<= {self.max_value:,g} {unit}")
        if self.max_p99_ms is not None:
            parts.append(f"p99 <= {self.max_p99_ms:g} ms")
        return ", ".join(parts)

    def verdict(self, row: Row) -> str:
        """met / MISSED; '-' when the reference was not measured in this run."""
        if self.min_ratio is not None and row.ratio is None:
            return "-"
        checks = [
            self.min_ratio is None or (row.ratio is not None and row.ratio >= self.min_ratio),
            self.min_value is None or row.value >= self.min_value,
            self.max_value is None or row.value <= self.max_value,
            # a p99 of nan (nothing answered) misses
            self.max_p99_ms is None or (row.p99 is not None and row.p99 <= self.max_p99_ms),
        ]
        return "met" if all(checks) else "MISSED"


@dataclass
class Row:
    scenario: str
    what: str
    value: float
    unit: str
    reference: str | None = None  # the scenario whose first row this one is divided by
    ratio: float | None = None  # value / the reference's value, set by the runner
    target: Target | None = None
    verdict: str = "-"  # set by the runner
    p50: float | None = None  # ms
    p99: float | None = None  # ms
    cpu: dict[str, float] = field(default_factory=dict)  # cores used on average, by party
    note: str = ""


def judge(rows: list[Row]) -> None:
    """Ratios to the references measured in this run, and verdicts."""
    first = {}
    for row in rows:
        first.setdefault(row.scenario, row)
    for row in rows:
        reference = first.get(row.reference or "")
        if reference is not None and reference.value:
            row.ratio = row.value / reference.value
        row.verdict = row.target.verdict(row) if row.target else "-"


# --- the registry ------------------------------------------------------------------------------

Run = Callable[["Bench"], Awaitable[list[Row]]]


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    run: Run


SCENARIOS: dict[str, Scenario] = {}
OPTIONS: list[tuple[tuple[str, ...], float | None, dict[str, Any]]] = []


def scenario(key: str, title: str) -> Callable[[Run], Run]:
    """Register a scenario under a one-letter key (`--scenarios` picks letters); scenarios run
    in the order they are registered."""

    def register(run: Run) -> Run:
        if len(key) != 1 or key in SCENARIOS:
            raise ValueError(f"scenario key {key!r} must be one letter, used once")
        SCENARIOS[key] = Scenario(key, title, run)
        return run

    return register


def option(*flags: str, quick: float | None = None, **kwargs: Any) -> None:
    """A command-line flag scenarios need; under --quick it is at most `quick`."""
    OPTIONS.append((flags, quick, kwargs))


option("--clients", type=int, default=100_000, quick=2_000, help="population size")
option("--duration", type=float, default=20.0, quick=4.0, help="seconds per load scenario")
option("--warmup", type=float, default=3.0, quick=1.0, help="seconds before measuring")


# --- the run's context -------------------------------------------------------------------------


class Bench:
    """What a scenario gets: the arguments, shared resources, a quiet-machine wait, a profiler."""

    def __init__(self, args: argparse.Namespace, stack: contextlib.AsyncExitStack) -> None:
        self.args = args
        self.tag = secrets.token_hex(3)  # makes this run's event ids unique
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.background: dict[str, float] = {}
        self._stack = stack
        self._shared: dict[str, Any] = {}

    async def shared(
        self, name: str, factory: Callable[[Bench], contextlib.AbstractAsyncContextManager[T]]
    ) -> T:
        """The resource `name`, entered on first use and left when the run ends."""
        if name not in self._shared:
            self._shared[name] = await self._stack.enter_async_context(factory(self))
        value: T = self._shared[name]
        return value

    def add(self, row: Row) -> None:
        self.rows.append(row)
        line = f"  -> ({row.scenario}) {row.what}: {fmt(row.value)} {row.unit}"
        if row.p99 is not None:
            line += f"  p50 {ms(row.p50)} ms  p99 {ms(row.p99)} ms"
        print(line + (f"  {cpu_text(row.cpu)}" if row.cpu else ""), flush=True)

    def note(self, text: str) -> None:
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    async def settle(self, label: str) -> None:
        """Before a measurement: note how busy the machine already is (other processes, steal)
        and, with --wait-quiet, wait (bounded) for that to drop under --quiet-cores."""
        # This process measures latency (and runs the sweep in process): its own full
        # collections, 200 ms each over what the run has built, were landing in the figures.
        # What is built so far is frozen, and it collects as winback's processes do.
        collector.settle()
        load = await common.background_cores(1.0)
        deadline = time.monotonic() + self.args.wait_quiet
        if load > self.args.quiet_cores and self.args.wait_quiet:
            log(f"    machine busy ({load:.2f} cores); waiting up to {self.args.wait_quiet:.0f} s")
        while load > self.args.quiet_cores and time.monotonic() < deadline:
            load = await common.background_cores(2.0)
        if load > self.args.quiet_cores:
            self.note(f"{label}: started with {load:.2f} cores already busy elsewhere or stolen")
        self.background[label] = load

    @contextlib.contextmanager
    def profiled(self, pid: int | None, name: str, seconds: float) -> Iterator[None]:
        """With --py-spy: record `pid` for `seconds` (collapsed stacks in --profile-dir)."""
        if not self.args.py_spy or not pid:
            yield
            return
        os.makedirs(self.args.profile_dir, exist_ok=True)
        output = os.path.join(self.args.profile_dir, f"{name}.txt")
        command = [self.args.py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds))]
        command += ["--rate", "200", "--format", "raw", "--output", output, "--nonblocking"]
        spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            yield
        finally:
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.terminate()
                spy.wait(timeout=10)


# --- output ------------------------------------------------------------------------------------


def fmt(value: float) -> str:
    if math.isnan(value):
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.3g}"


def ms(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.1f}"


def cpu_text(cpu: dict[str, float]) -> str:
    text = f"cores gen/srv/pg {cpu['generator']:.2f}/{cpu['server']:.2f}/{cpu['postgres']:.2f}"
    text += f", other {cpu.get('other', 0):.2f}"
    return text + (f", steal {cpu['steal']:.2f}" if cpu.get("steal", 0) >= 0.05 else "")


def columns(row: Row, referenced: set[str]) -> list[str]:
    """scenario, measured, p50, p99, ratio, target, verdict."""
    if row.target:
        target = row.target.text(row.unit, row.reference)
    else:
        target = "reference" if row.scenario in referenced else "-"
    ratio = f"{row.ratio:.2f} x ({row.reference})" if row.ratio is not None else "-"
    return [
        f"({row.scenario}) {row.what}",
        f"{fmt(row.value)} {row.unit}",
        ms(row.p50),
        ms(row.p99),
        ratio,
        target,
        row.verdict,
    ]


HEADER = ["scenario", "measured", "p50 ms", "p99 ms", "ratio", "target", "verdict"]


def summary(info: dict[str, Any], args: argparse.Namespace) -> list[str]:
    return [
        f"winback bench - {info['nproc']} cores ({info['cpu']}), {info['ram_gib']} GiB, "
        f"PostgreSQL {info['postgresql']}, Python {info['python']}",
        # the server's own sizing moves every write-bound figure (docs/performance.md)
        "PostgreSQL settings: "
        + ", ".join(f"{name} {value}" for name, value in sorted(info["pg_settings"].items())),
        f"uvicorn {info['packages']['uvicorn']} ({info['uvicorn_loop']} loop, "
        f"{info['uvicorn_http']} parser), 1 worker, no access log; {args.clients:,} clients; "
        f"{args.duration:g} s per load scenario after {args.warmup:g} s warm-up",
        f"code measured: {info['code']}",
    ]


def print_table(bench: Bench, info: dict[str, Any]) -> None:
    referenced = {row.reference for row in bench.rows if row.reference}
    table = [HEADER] + [columns(row, referenced) for row in bench.rows]
    widths = [min(60, max(len(line[i]) for line in table)) for i in range(len(HEADER))]
    print("\n" + "=" * 100)
    print("\n".join(summary(info, bench.args)))
    print(
        "The load generator (this process) shares the CPU cores with the server and PostgreSQL: "
        "'cores gen/srv/pg' is what each used on average."
    )
    print("=" * 100)
    for n, line in enumerate(table):
        cells = [
            cell[:width].ljust(width) if i in (0, 5) else cell[:width].rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("-" * (sum(widths) + 2 * len(widths)))
    print("-" * (sum(widths) + 2 * len(widths)))
    for row in bench.rows:
        extra = [text for text in (cpu_text(row.cpu) if row.cpu else "", row.note) if text]
        if extra:
            print(f"({row.scenario}) {row.what}: " + "; ".join(extra))
    if bench.background:
        print(
            "cores busy with OTHER processes (or stolen) just before each measurement: "
            + ", ".join(f"{k} {v:.2f}" for k, v in bench.background.items())
        )
    for note in bench.notes:
        print(f"note: {note}")
    print("=" * 100)


def markdown(bench: Bench, info: dict[str, Any]) -> str:
    """The table as docs/performance.md shows it."""
    referenced = {row.reference for row in bench.rows if row.reference}
    lines = ["  \n".join(summary(info, bench.args)), ""]
    lines += ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for row in bench.rows:
        cells = columns(row, referenced)
        if cells[-1] != "-":
            cells[-1] = f"**{cells[-1]}**"
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


# --- the runner --------------------------------------------------------------------------------


class Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    for module in SCENARIO_MODULES:
        importlib.import_module(module)
    listing = "\n".join(f"  ({s.key}) {s.title}" for s in SCENARIOS.values())
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=f"winback benchmarks (SPEC §13), side by side in one run:\n{listing}",
        formatter_class=Formatter,
    )
    parser.add_argument(
        "--database-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="server-level URL; the scenarios create and drop winback_bench* databases there",
    )
    parser.add_argument(
        "--scenarios", default="".join(SCENARIOS), help="letters of the scenarios to run"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: small and short")
    parser.add_argument("--keep-databases", action="store_true", help="keep them for EXPLAIN")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=0.0,
        help="before each measurement wait up to this many seconds for other processes "
        "to use less than --quiet-cores",
    )
    parser.add_argument("--quiet-cores", type=float, default=0.3)
    parser.add_argument("--json", help="also write the rows and the machine to this file")
    parser.add_argument("--markdown", help="also write the table as markdown to this file")
    parser.add_argument("--py-spy", help="path to py-spy: record the server during load")
    parser.add_argument("--profile-dir", default="bench-profiles", help="where --py-spy writes")
    for flags, _, kwargs in OPTIONS:
        parser.add_argument(*flags, **kwargs)
    args = parser.parse_args(argv)
    unknown = set(args.scenarios) - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenarios {''.join(sorted(unknown))}; known: {''.join(SCENARIOS)}")
    if args.quick:
        for flags, quick, _ in OPTIONS:
            name = flags[0].lstrip("-").replace("-", "_")
            if quick is not None:
                setattr(args, name, type(getattr(args, name))(min(getattr(args, name), quick)))
    return args


async def run(args: argparse.Namespace) -> list[Row]:
    common.check_local(args.database_url)
    info = await common.machine(args.database_url)
    async with contextlib.AsyncExitStack() as stack:
        bench = Bench(args, stack)
        log(f"bench on {info['nproc']} cores, {args.clients:,} clients, run tag {bench.tag}")
        log(f"code: {info['code']}")
        for key, chosen in SCENARIOS.items():
            if key in args.scenarios:
                log(f"({key}) {chosen.title}")
                for row in await chosen.run(bench):
                    bench.add(row)
    judge(bench.rows)
    print_table(bench, info)
    if args.json:
        with open(args.json, "w") as out:  # noqa: ASYNC230 - at the very end
            rows = [asdict(row) for row in bench.rows]
            document = {"machine": info, "args": vars(args), "rows": rows, "notes": bench.notes}
            json.dump(document, out, indent=2, default=str)
    if args.markdown:
        with open(args.markdown, "w") as out:  # noqa: ASYNC230 - at the very end
            out.write(markdown(bench, info))
    return bench.rows


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    args = parse_args(argv)
    started = time.monotonic()
    asyncio.run(run(args))
    log(f"done in {time.monotonic() - started:.0f} s")
