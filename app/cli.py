"""winback: serve | worker | migrate | keys create/list/revoke | db stop/reset | demo | import |
backtest | openapi.

Without WINBACK_DATABASE_URL every command uses the embedded PostgreSQL in WINBACK_DATA_DIR
(default ./.winback); it stops when the last process using it exits.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Coroutine, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn, TextIO, TypeVar

from app.config import Settings, get_settings
from app.kit.time import utcnow

if TYPE_CHECKING:
    from fastapi import FastAPI

    from app.auth.models import ApiKey

log = logging.getLogger("winback")
T = TypeVar("T")


def _database_url(settings: Settings, quiet: bool = False) -> str:
    from app import embedded

    if settings.database_url:
        return settings.database_url
    url = embedded.start(settings.data_dir)
    if not quiet:
        print(f"winback: embedded PostgreSQL, data in {settings.data_dir.resolve()}", flush=True)
    return url


async def _first_admin_key(url: str, settings: Settings) -> tuple[str | None, str | None]:
    """On first start (no key yet, none in WINBACK_ADMIN_KEY) create an admin key to print once.

    Returns (that key, None), or (None, a line on the keys that already exist)."""
    from app.auth.service import create_key, list_keys
    from app.db import create_engine, create_sessionmaker

    if settings.admin_key:
        return None, None
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            active = [k.scopes for k in await list_keys(session) if k.revoked_at is None]
            if not active:
                _, key = await create_key(session, "first admin key", ["admin"], utcnow())
                return key, None
    finally:
        await engine.dispose()
    if any("admin" in scopes for scopes in active):
        return None, (
            "winback: an admin API key already exists (it was shown once); lost it? "
            "`winback keys create --scopes admin` prints a new one"
        )
    return None, "winback: no active admin API key; `winback keys create --scopes admin` prints one"


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from app.migrate import upgrade

    settings = get_settings()
    if args.no_worker:
        settings = settings.model_copy(update={"run_worker": False})
    processes = args.workers or settings.web_workers
    url = _database_url(settings)
    _run_migration(upgrade(url))
    key, notice = asyncio.run(_first_admin_key(url, settings))
    if notice:
        print(notice, flush=True)
    if key:
        print(
            "winback: created an admin API key (shown once, store it now):\n"
            f"  {key}\n"
            "  use it as `Authorization: Bearer <key>`; `winback keys create` makes narrower ones",
            flush=True,
        )
    host = args.host or settings.host
    port = args.port or settings.port
    print(f"winback: serving on http://{host}:{port} (docs at /docs)", flush=True)
    print(f"winback: dashboard at http://{host}:{port}/ui (sign in with an API key)", flush=True)
    log_level = "warning" if args.quiet else "info"
    if processes > 1:
        _serve_in_processes(settings, url, processes, host, port, log_level)
        return
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # set by the operator: /metrics reads it
        _forget_earlier_metrics(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    from app.main import create_app

    uvicorn.run(create_app(settings, url), host=host, port=port, log_level=log_level, workers=1)


def _serve_in_processes(
    settings: Settings, url: str, processes: int, host: str, port: int, log_level: str
) -> None:
    """`serve --workers N`: N uvicorn API processes, each built by `web_app` from the environment
    set here, and (unless --no-worker) one `winback worker` child beside them, so the jobs run
    once however many API processes there are. All of them keep their metrics in one directory,
    which the API's /metrics adds up."""
    import uvicorn

    worker_note = " and a background worker process" if settings.run_worker else ""
    print(f"winback: {processes} API processes{worker_note}", flush=True)
    with _metrics_directory() as directory:
        environment = {
            # what this process resolved, for children that read their settings afresh
            "WINBACK_DATABASE_URL": url,
            "WINBACK_RUN_WORKER": "false",
            # read when prometheus_client is imported: set before any child starts
            "PROMETHEUS_MULTIPROC_DIR": directory,
        }
        with _environment(environment):
            worker = _BackgroundWorker(directory) if settings.run_worker else None
            try:
                uvicorn.run(
                    "app.cli:web_app",
                    factory=True,
                    host=host,
                    port=port,
                    log_level=log_level,
                    workers=processes,
                )
            finally:
                if worker is not None:
                    worker.stop()


def web_app() -> "FastAPI":
    """uvicorn's app factory in each API process of `serve --workers N`: settings, the database
    URL and the metrics directory come from the environment the parent set."""
    from app.main import create_app

    _configure_logging()
    return create_app()


# Prometheus's files in a multiprocess directory: <type, or gauge_<mode>>_<pid>.db
_METRICS_FILE = re.compile(r"(?:counter|histogram|summary|gauge_[a-z]+)_(\d+)\.db")


@contextlib.contextmanager
def _metrics_directory() -> Iterator[str]:
    """Where the processes of `serve --workers N` keep their metrics: PROMETHEUS_MULTIPROC_DIR
    if the operator set it (e.g. a tmpfs), else a fresh temporary directory removed at the end.

    Files of processes that died while serving stay until the next start: uvicorn restarts a
    dead API process without a hook to call `mark_process_dead`. Its counters rightly keep
    counting in the sums, and "mostrecent" gauges are overtaken by newer values, so no figure
    is wrong; a "live*" gauge mode would need that hook (docs/scaling.md)."""
    configured = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if configured:
        _forget_earlier_metrics(Path(configured))
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="winback-metrics-") as directory:
        yield directory


def _forget_earlier_metrics(directory: Path) -> None:
    """Delete an earlier run's files from a multiprocess directory, or /metrics would add them
    in. Only Prometheus's files, and not this process's own: with the variable already set,
    importing the metrics opened them."""
    for file in directory.iterdir():
        found = _METRICS_FILE.fullmatch(file.name)
        if found and int(found.group(1)) != os.getpid():
            file.unlink(missing_ok=True)


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables (children inherit them), then put back what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _BackgroundWorker:
    """`winback worker` as one child process of `serve --workers N`, started again if it dies
    (after 2 s, doubling while it keeps dying early, up to a minute), stopped by `stop`."""

    STOP_TIMEOUT_SECONDS = 30.0  # to finish the batch under way and commit it, then a kill

    def __init__(self, metrics_directory: str) -> None:
        self._metrics_directory = metrics_directory
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # no new process once `stop` has begun
        self._process = self._start()
        threading.Thread(target=self._watch, name="winback-worker-watch", daemon=True).start()

    @staticmethod
    def _start() -> "subprocess.Popen[bytes]":
        # a process group of its own: Ctrl-C in a terminal reaches the whole foreground group,
        # and serve stops the worker itself, once the API processes are done
        return subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], process_group=0)

    def _watch(self) -> None:
        early_deaths = 0
        while True:
            started = time.monotonic()
            code = self._process.wait()
            if self._stopping.is_set():
                return
            self._forget(self._process.pid)
            early_deaths = early_deaths + 1 if time.monotonic() - started < 60 else 0
            pause = min(2.0**early_deaths, 60.0)
            log.warning("background worker exited (%s); another starts in %.0f s", code, pause)
            if self._stopping.wait(pause):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._process = self._start()

    def _forget(self, pid: int) -> None:
        from prometheus_client.multiprocess import mark_process_dead

        mark_process_dead(pid, self._metrics_directory)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not finished in time."""
        self._stopping.set()
        with self._lock:
            process = self._process
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=self.STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._forget(process.pid)


def lower_priority(niceness: int) -> None:
    """Background work yields the CPU to the API's requests (settings.worker_nice)."""
    if niceness and hasattr(os, "nice"):
        os.nice(niceness)


def worker(args: argparse.Namespace) -> None:
    from app.db import create_engine, create_sessionmaker
    from app.migrate import upgrade
    from app.worker.loop import deliver_once, run_forever, run_once

    settings = get_settings()
    url = _database_url(settings)
    _run_migration(upgrade(url))
    if not args.once:  # a one-shot run (cron, a test) keeps its priority
        lower_priority(settings.worker_nice)
    if settings.worker_metrics_port and not args.once:
        from prometheus_client import start_http_server

        # its own counters (webhook attempts, clients swept); the API's /metrics has the rest
        start_http_server(settings.worker_metrics_port, addr=settings.host)
        print(
            f"winback: worker metrics on http://{settings.host}:{settings.worker_metrics_port}/",
            flush=True,
        )

    async def main() -> bool:
        # SIGTERM: finish the batch under way, commit it, then exit (not an exception raised
        # at an arbitrary point inside the database driver)
        stop = asyncio.Event()
        if threading.current_thread() is threading.main_thread():
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        if _SIGTERM_RECEIVED.is_set():  # one that arrived before, and was swallowed
            stop.set()
        engine = create_engine(url)
        try:
            sessionmaker = create_sessionmaker(engine)
            if args.once:
                await run_once(sessionmaker, settings, refresh=True, stop=stop)
                await deliver_once(sessionmaker, settings)
            else:
                await run_forever(sessionmaker, settings, stop)
        finally:
            await engine.dispose()
        return stop.is_set()

    if _run_fast(main()):
        raise SystemExit(128 + signal.SIGTERM)


def _run_migration(coroutine: Coroutine[Any, Any, None]) -> None:
    """Run a migration (a command's start, `winback migrate`). SIGTERM cancels it (PostgreSQL
    rolls it back) and exits 143: raised at an arbitrary point inside the driver it left a
    traceback and exit code 1."""

    async def cancellable() -> None:
        task = asyncio.current_task()
        assert task is not None
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.getsignal(signal.SIGTERM)

        def on_sigterm() -> None:
            _SIGTERM_RECEIVED.set()
            task.cancel()

        if in_main_thread:
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, on_sigterm)
        try:
            await coroutine
        finally:
            if in_main_thread:
                asyncio.get_running_loop().remove_signal_handler(signal.SIGTERM)
                signal.signal(signal.SIGTERM, previous)

    try:
        asyncio.run(cancellable())
    except BaseException:
        # the cancellation may surface as the driver's own error once the statement is cut short
        if _SIGTERM_RECEIVED.is_set():
            raise SystemExit(128 + signal.SIGTERM) from None
        raise


def _run_fast(coroutine: Coroutine[Any, Any, T]) -> T:
    """asyncio.run on uvloop where it is installed (as uvicorn runs the API): the worker's
    webhook sends and queries spend less CPU in the event loop."""
    try:
        import uvloop
    except ImportError:  # Windows
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)


def migrate(args: argparse.Namespace) -> None:
    from app.migrate import downgrade, upgrade

    url = _database_url(get_settings())
    if args.down:
        _run_migration(downgrade(url, args.down))
    else:
        _run_migration(upgrade(url, args.to))
    print("winback: migrations applied")


def keys(args: argparse.Namespace) -> None:
    from app.auth.service import create_key, list_keys, revoke
    from app.db import create_engine, create_sessionmaker

    settings = get_settings()
    url = _database_url(settings, quiet=True)

    async def main() -> None:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                if args.keys_command == "create":
                    scopes = [s for part in args.scopes for s in part.split(",") if s]
                    key_id, key = await create_key(session, args.name, scopes, utcnow())
                    print(f"key id {key_id}, scopes {','.join(sorted(scopes))} (shown once):")
                    print(key)
                elif args.keys_command == "list":
                    print(_key_table(await list_keys(session)))
                else:
                    if not await revoke(session, args.key_id, utcnow()):
                        sys.exit(f"no active key {args.key_id} (`winback keys list` shows them)")
                    print(f"revoked {args.key_id}")
        finally:
            await engine.dispose()

    try:
        asyncio.run(main())
    except ValueError as exc:
        sys.exit(str(exc))


def _key_table(rows: Sequence["ApiKey"]) -> str:
    """id, name, scopes, created, revoked: never the key nor its hash (neither can be shown)."""
    if not rows:
        return "no API keys yet; `winback keys create --scopes admin` makes one"

    def when(moment: datetime | None) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else "-"

    table = [("id", "name", "scopes", "created (UTC)", "revoked (UTC)")] + [
        (k.id, k.name, ",".join(k.scopes), when(k.created_at), when(k.revoked_at)) for k in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    )


def db(args: argparse.Namespace) -> None:
    """`db stop`, `db reset`: the embedded PostgreSQL only, never a WINBACK_DATABASE_URL server."""
    from app import embedded

    data_dir = get_settings().data_dir.resolve()
    try:
        if args.db_command == "stop":
            if embedded.stop(data_dir, force=args.force):
                print(f"winback: stopped the embedded PostgreSQL in {data_dir}")
            else:
                print(f"winback: the embedded PostgreSQL in {data_dir} is not running")
            return
        if not args.yes:
            sys.exit(
                f"winback: `db reset` deletes the embedded database in {embedded.pgdata(data_dir)}"
                " (every client, event and API key); run it again with --yes to go ahead"
            )
        if embedded.reset(data_dir, force=args.force):
            print(
                f"winback: deleted the embedded database in {embedded.pgdata(data_dir)}; "
                "the next `winback serve` starts afresh and prints a new admin key"
            )
        else:
            print(f"winback: no embedded database in {data_dir}; nothing to delete")
    except embedded.InUseError as exc:
        sys.exit(f"winback: {exc}")


def demo(args: argparse.Namespace) -> None:
    from app.demo import load_demo
    from app.migrate import upgrade

    settings = get_settings()
    url = _database_url(settings)
    _run_migration(upgrade(url))
    summary = asyncio.run(load_demo(url, clients=args.clients, seed=args.seed))
    print(summary)


def import_history(args: argparse.Namespace) -> None:
    """`winback import FILE`: load, re-fold the clients touched, refresh the population, sweep."""
    from app.db import create_engine, create_sessionmaker
    from app.imports.prepare import ReadOptions, inspect
    from app.imports.progress import reporter_for
    from app.imports.readers import FormatError, parse_mapping
    from app.imports.service import ImportFailed, import_file
    from app.migrate import upgrade
    from app.worker import jobs

    path = Path(args.file)
    errors = Path(args.errors) if args.errors else None
    if args.chunk < 1:
        sys.exit("winback import: --chunk must be at least 1")
    try:
        mapping = parse_mapping(args.map) if args.map else None
        options = ReadOptions(args.format, mapping, args.timezone, args.chunk)
        inspect(path, options)  # a missing file or an unknown header fails before any work
    except FormatError as exc:
        sys.exit(f"winback import: {path}: {exc}")
    except OSError as exc:
        sys.exit(f"winback import: cannot read {path}: {exc.strerror or exc}")
    url = _database_url(get_settings())
    _run_migration(upgrade(url))

    async def main() -> str:
        engine = create_engine(url)
        try:
            sessionmaker = create_sessionmaker(engine)
            now = utcnow()
            finish = [
                ("population refresh", lambda: jobs.refresh_population(sessionmaker, now)),
                ("sweep", lambda: jobs.sweep(sessionmaker, lambda: now)),
            ]
            summary = await import_file(
                sessionmaker, path, options, now, reporter_for(sys.stdout), finish, errors
            )
            return str(summary)
        finally:
            await engine.dispose()

    try:
        print(asyncio.run(main()), flush=True)
    except (FormatError, OSError, ImportFailed) as exc:
        sys.exit(f"winback import: {path}: {exc}")


def export(args: argparse.Namespace) -> None:
    """`winback export [FILE]`: every stored event as JSON lines (standard output by default)."""
    from app.db import create_engine, create_sessionmaker
    from app.events.export import lines

    url = _database_url(get_settings(), quiet=True)

    async def main(target: TextIO) -> int:
        engine = create_engine(url)
        written = 0
        try:
            async for line in lines(create_sessionmaker(engine)):
                target.write(line)
                written += 1
        finally:
            await engine.dispose()
        return written

    if args.file:
        with open(args.file, "w", encoding="utf-8") as target:
            written = asyncio.run(main(target))
    else:
        written = asyncio.run(main(sys.stdout))
    print(f"winback export: {written:,} events", file=sys.stderr, flush=True)


def _cutoff(text: str) -> datetime:
    """An ISO moment (a zone required) or a date, which means the end of that day in UTC."""
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text)
            return day.replace(hour=23, minute=59, second=59, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or moment: {text!r}") from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"give a time zone (e.g. {text}Z) or a date alone")
    return moment.astimezone(UTC)


def backtest(args: argparse.Namespace) -> None:
    """`winback backtest --cutoff --horizon-days`: POST /v1/backtests from the command line."""
    from app.backtests import service
    from app.db import create_engine, create_sessionmaker
    from app.kit.problems import ProblemError
    from app.migrate import upgrade
    from app.policy.service import load_snapshot

    url = _database_url(get_settings(), quiet=True)
    _run_migration(upgrade(url))

    async def main() -> str:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                snapshot = await load_snapshot(session)
                found = await service.run_backtest(
                    session, snapshot, args.cutoff, args.horizon_days, utcnow()
                )
        finally:
            await engine.dispose()
        return found.model_dump_json(indent=2) if args.json else service.backtest_text(found)

    try:
        print(asyncio.run(main()), flush=True)
    except ProblemError as exc:
        sys.exit(f"winback backtest: {exc}")


def openapi(args: argparse.Namespace) -> None:
    from app.openapi_doc import write

    print(f"winback: wrote {write()}")


# Set by _exit_on_sigterm. Its SystemExit can land inside a callback that swallows exceptions (a
# weakref callback during garbage collection: "Exception ignored in ..."); the worker checks this
# once its own handler is in place, so such a SIGTERM still stops it.
_SIGTERM_RECEIVED = threading.Event()


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> NoReturn:
    # SIGTERM's default action ends the process without running exit handlers, and one of them
    # stops the embedded PostgreSQL; exit like this instead (uvicorn hands SIGTERM on to it too)
    _SIGTERM_RECEIVED.set()
    raise SystemExit(128 + signum)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for chatty in ("alembic", "pgserver"):  # their INFO lines say nothing an operator needs
        logging.getLogger(chatty).setLevel(logging.WARNING)


def _process_count(text: str) -> int:
    count = int(text)
    if not 1 <= count <= 64:
        raise argparse.ArgumentTypeError(f"between 1 and 64, not {count}")
    return count


def main(argv: Sequence[str] | None = None) -> None:
    _configure_logging()
    parser = argparse.ArgumentParser(
        prog="winback", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")

    p = sub.add_parser("serve", help="serve the API (embedded PostgreSQL unless configured)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument(
        "--workers",
        type=_process_count,
        metavar="N",
        help="API processes (default WINBACK_WEB_WORKERS, 1); above 1 the background worker "
        "runs as one process of its own beside them (docs/scaling.md)",
    )
    p.add_argument(
        "--no-worker",
        action="store_true",
        help="run no background worker (in-process, or the child process of --workers N)",
    )
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=serve)

    p = sub.add_parser(
        "worker",
        help="run the sweeper, tier refresh, policy re-evaluation and webhook delivery",
    )
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.set_defaults(func=worker)

    p = sub.add_parser("migrate", help="apply migrations (to head by default)")
    p.add_argument("--to", default="head")
    p.add_argument("--down", help="downgrade to this revision (e.g. base)")
    p.set_defaults(func=migrate)

    p = sub.add_parser("keys", help="manage API keys: create, list, revoke")
    keys_sub = p.add_subparsers(dest="keys_command", required=True, metavar="command")
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--scopes", nargs="+", required=True, help="e.g. events:write clients:read")
    create.add_argument("--name", default="api key")
    keys_sub.add_parser("list", help="list keys: id, name, scopes, created, revoked (not the keys)")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id", help="the id shown by `keys create` and `keys list`")
    p.set_defaults(func=keys)

    p = sub.add_parser("db", help="stop or reset the embedded PostgreSQL (WINBACK_DATA_DIR)")
    db_sub = p.add_subparsers(dest="db_command", required=True, metavar="command")
    stop = db_sub.add_parser("stop", help="stop the embedded PostgreSQL if it is running")
    reset = db_sub.add_parser(
        "reset", help="stop it and delete its data (clients, events, keys) for a clean start"
    )
    reset.add_argument("--yes", action="store_true", help="yes, delete the data")
    for db_command in (stop, reset):
        db_command.add_argument(
            "--force", action="store_true", help="even while another winback process uses it"
        )
    p.set_defaults(func=db)

    from app.demo import DEMO_CLIENTS, DEMO_SEED

    p = sub.add_parser("demo", help="load a realistic synthetic history")
    p.add_argument(
        "--clients",
        type=int,
        default=DEMO_CLIENTS,
        metavar="N",
        help="synthetic clients to generate, plus the README's three stories (default %(default)s)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEMO_SEED,
        help="random seed: the same seed gives the same clients and events (default %(default)s)",
    )
    p.set_defaults(func=demo)

    from app.imports.readers import FORMATS, ORDER_FIELDS

    p = sub.add_parser(
        "import",
        help="load a history file: winback event JSON lines, an orders CSV, a Shopify export",
        description="Load a history file with the API's semantics (validation, idempotent by "
        "event id), in bulk. Refused rows go to FILE.errors.csv (line, id, field, reason); the "
        "rest is loaded. Re-running the same file adds nothing. See docs/import.md.",
        epilog="--map fields: "
        + "; ".join(f"{key} ({meaning})" for key, meaning in ORDER_FIELDS.items()),
    )
    p.add_argument("file", help="the file: .jsonl of events, or a CSV")
    p.add_argument(
        "--format",
        choices=("auto", *FORMATS),
        default="auto",
        help="auto: JSON lines if the first line is an object, a mapped orders CSV with --map, "
        "else Shopify's order export by its header (default %(default)s)",
    )
    p.add_argument(
        "--map",
        action="append",
        metavar="FIELD=COLUMN,...",
        help="an orders CSV's columns, e.g. client_id=Email,order_id=Order,amount=Total,"
        "occurred_at=Date (repeatable)",
    )
    p.add_argument("--errors", metavar="PATH", help="where refused rows go (FILE.errors.csv)")
    p.add_argument(
        "--timezone",
        metavar="ZONE",
        help="the zone of CSV times written without one (e.g. Europe/Paris); else refused",
    )
    p.add_argument(
        "--chunk",
        type=int,
        default=50_000,
        metavar="N",
        help="events per committed chunk (default %(default)s)",
    )
    p.set_defaults(func=import_history)

    p = sub.add_parser(
        "backtest",
        help="how well statuses and scores at a past cutoff predicted who stopped ordering",
        description="Evaluate every client as it stood at CUTOFF (events and population "
        "figures up to it) and compare with who placed no order within the horizon: AUC of "
        "status, churn_risk, p_alive next to recency, precision and recall of at_risk + lost, "
        "lift by decile (POST /v1/backtests). Writes nothing. See docs/models.md.",
    )
    p.add_argument(
        "--cutoff",
        type=_cutoff,
        required=True,
        help="ISO date (the end of that day, UTC) or moment with a zone",
    )
    p.add_argument("--horizon-days", type=int, required=True, help="e.g. 90, 180, 273")
    p.add_argument("--json", action="store_true", help="the API's JSON answer instead of a table")
    p.set_defaults(func=backtest)

    p = sub.add_parser(
        "export",
        help="write every stored event as JSON lines (a backup; `winback import` reads it back)",
    )
    p.add_argument("file", nargs="?", help="where to write (default: standard output)")
    p.set_defaults(func=export)

    p = sub.add_parser("openapi", help="write openapi/openapi.json from the code")
    p.set_defaults(func=openapi)

    args = parser.parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if in_main_thread else None
    try:
        args.func(args)
    except KeyboardInterrupt:  # Ctrl-C: exit handlers run (the embedded server stops), no trace
        sys.exit(130)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    main()
