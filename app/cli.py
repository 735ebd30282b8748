"""winback serve | worker | migrate | keys create/revoke | demo | openapi."""

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from app.config import Settings, get_settings
from app.kit.time import utcnow


def _database_url(settings: Settings, quiet: bool = False) -> str:
    from app import embedded

    if settings.database_url:
        return settings.database_url
    url = embedded.start(settings.data_dir)
    if not quiet:
        print(f"winback: embedded PostgreSQL, data in {settings.data_dir.resolve()}", flush=True)
    return url


async def _ensure_admin_key(url: str, settings: Settings) -> str | None:
    """On first start (no key yet, none in WINBACK_ADMIN_KEY) create an admin key to print once."""
    from app.auth.service import count_active, create_key
    from app.db import create_engine, create_sessionmaker

    if settings.admin_key:
        return None
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            if await count_active(session):
                return None
            _, key = await create_key(session, "first admin key", ["admin"], utcnow())
            return key
    finally:
        await engine.dispose()


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from app.main import create_app
    from app.migrate import upgrade

    settings = get_settings()
    if args.no_worker:
        settings = settings.model_copy(update={"run_worker": False})
    url = _database_url(settings)
    asyncio.run(upgrade(url))
    key = asyncio.run(_ensure_admin_key(url, settings))
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
    uvicorn.run(
        create_app(settings, url),
        host=host,
        port=port,
        log_level="warning" if args.quiet else "info",
        workers=1,
    )


def worker(args: argparse.Namespace) -> None:
    from app.db import create_engine, create_sessionmaker
    from app.migrate import upgrade
    from app.worker.loop import run_forever, run_once

    settings = get_settings()
    url = _database_url(settings)
    asyncio.run(upgrade(url))

    async def main() -> None:
        engine = create_engine(url)
        try:
            sessionmaker = create_sessionmaker(engine)
            if args.once:
                await run_once(sessionmaker, settings, refresh=True)
            else:
                await run_forever(sessionmaker, settings)
        finally:
            await engine.dispose()

    asyncio.run(main())


def migrate(args: argparse.Namespace) -> None:
    from app.migrate import downgrade, upgrade

    url = _database_url(get_settings())
    if args.down:
        asyncio.run(downgrade(url, args.down))
    else:
        asyncio.run(upgrade(url, args.to))
    print("winback: migrations applied")


def keys(args: argparse.Namespace) -> None:
    from app.auth.service import create_key, revoke
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
                else:
                    if not await revoke(session, args.key_id, utcnow()):
                        sys.exit(f"no active key {args.key_id}")
                    print(f"revoked {args.key_id}")
        finally:
            await engine.dispose()

    try:
        asyncio.run(main())
    except ValueError as exc:
        sys.exit(str(exc))


def demo(args: argparse.Namespace) -> None:
    from app.demo import load_demo
    from app.migrate import upgrade

    settings = get_settings()
    url = _database_url(settings)
    asyncio.run(upgrade(url))
    summary = asyncio.run(load_demo(url, clients=args.clients, seed=args.seed))
    print(summary)


def openapi(args: argparse.Namespace) -> None:
    from app.openapi_doc import write

    print(f"winback: wrote {write()}")


def main(argv: Sequence[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for chatty in ("alembic", "pgserver"):  # their INFO lines say nothing an operator needs
        logging.getLogger(chatty).setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="winback", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="serve the API (embedded PostgreSQL unless configured)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--no-worker", action="store_true", help="do not run the worker in-process")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=serve)

    p = sub.add_parser("worker", help="run the sweeper, tier refresh and policy re-evaluation")
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.set_defaults(func=worker)

    p = sub.add_parser("migrate", help="apply migrations (to head by default)")
    p.add_argument("--to", default="head")
    p.add_argument("--down", help="downgrade to this revision (e.g. base)")
    p.set_defaults(func=migrate)

    p = sub.add_parser("keys", help="manage API keys")
    keys_sub = p.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="create a key and print it once")
    create.add_argument("--scopes", nargs="+", required=True, help="e.g. events:write clients:read")
    create.add_argument("--name", default="api key")
    revoke = keys_sub.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    p.set_defaults(func=keys)

    p = sub.add_parser("demo", help="load a realistic synthetic history")
    p.add_argument("--clients", type=int, default=3000)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=demo)

    p = sub.add_parser("openapi", help="write openapi/openapi.json from the code")
    p.set_defaults(func=openapi)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
