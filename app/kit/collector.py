"""The garbage collector set for a long-running process (an API process, a worker)."""

import gc

# Each request or sweep batch leaves cyclic garbage (the SQLAlchemy session and its transaction,
# weak dictionaries: ~60 objects a request), so with the default young threshold of 700 a full
# collection ran every 150-300 requests, pausing one for 10-25 ms (gc callbacks in an API
# process at 1,000,000 clients: 34 full collections in 70 s of list requests, most of the
# lists' p99), and every 2 s in a sweeping process. At 50,000 the young generation is collected
# about 70 times less often and a full collection is rare; the garbage waiting is a few MB.
YOUNG_THRESHOLD = 50_000


def settle() -> None:
    """After start-up: move what start-up built out of the collector's reach (full collections
    over the import-time objects paused a request for 100+ ms) and collect less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *gc.get_threshold()[1:])
