"""The worker's webhook delivery pipeline alone, for bench (w): `python -m bench.webhook_worker`
with the settings of `winback worker` from the environment. Its other jobs (population refresh,
model refit, sweep) are left out: they are not what (w) measures, and a refit would change the
write path's cost between the rounds."""

import asyncio
import signal

from app.cli import lower_priority
from app.config import get_settings
from app.db import create_engine, create_sessionmaker
from app.webhooks.delivery import Deliverer


async def main() -> None:
    settings = get_settings()
    assert settings.database_url, "set WINBACK_DATABASE_URL"
    lower_priority(settings.worker_nice)  # as `winback worker` does
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    engine = create_engine(settings.database_url)
    try:
        async with Deliverer(create_sessionmaker(engine), settings) as deliverer:
            print("ready", flush=True)
            await deliverer.run(stop)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())  # as `winback worker` runs
