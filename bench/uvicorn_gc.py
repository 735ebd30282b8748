"""`python -m bench.uvicorn_gc MODE <uvicorn args>`: uvicorn with the garbage collector tuned,
for the `--server-gc` experiment of `bench.ingest` (the app's code is unchanged).

MODE `freeze`: import the app, collect once, then `gc.freeze()` so the ~115,000 objects made at
import are never scanned again by full collections. MODE `off`: `gc.disable()` (measurement
only; a real server must not run without the cycle collector).
"""

import gc
import sys


def main() -> None:
    mode = sys.argv[1]
    if mode == "freeze":
        import app.main  # noqa: F401 - everything import-time, before the freeze

        gc.collect()
        gc.freeze()
    elif mode == "off":
        gc.disable()
    elif mode != "default":
        raise SystemExit(f"unknown gc mode {mode!r}")
    import uvicorn.main

    sys.argv = ["uvicorn", *sys.argv[2:]]
    uvicorn.main.main()


if __name__ == "__main__":
    main()
