"""`python -m bench.sweeper URL BATCH_SIZE IN_FLIGHT`: one sweeping process of scenario (t), as a
`winback worker` with WINBACK_SWEEP_CONCURRENCY=IN_FLIGHT sweeps (the worker's own job,
`app.worker.jobs.sweep`, and its garbage-collector setting).

It connects, loads the policy snapshot once (a connection and the tables warm, as in a running
worker), prints `ready` and then, for each line `go SECONDS` on stdin, sweeps what is due (in
rounds of four batches, until nothing is left or SECONDS have passed) and prints one JSON line,
{"swept": clients} (the parent times the wall until the last process is done). It exits at
the end of stdin."""

from __future__ import annotations

import asyncio
import json
import sys
import time


async def main(url: str, batch_size: int, in_flight: int) -> None:
    from app.db import create_engine, create_sessionmaker
    from app.kit import collector
    from app.kit.time import utcnow
    from app.policy.service import load_snapshot
    from app.worker import jobs

    engine = create_engine(url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async with sessionmaker() as session:
            await load_snapshot(session)
        collector.settle()  # as the worker's loop does before its first round
        print("ready", flush=True)
        for line in sys.stdin:  # blocking: nothing else runs in this process between sweeps
            budget = float(line.split()[1])
            started = time.perf_counter()
            swept = 0
            while time.perf_counter() - started < budget:
                chunk = await jobs.sweep(
                    sessionmaker, utcnow, batch_size, max_batches=4, concurrency=in_flight
                )
                swept += len(chunk)
                if not chunk:
                    break
            print(json.dumps({"swept": swept}), flush=True)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
