"""Put on PYTHONPATH by the benchmark to vary how an unmodified adapter runs, through the environment.

BENCH_NO_UVLOOP=1      uvloop cannot be imported, so the adapter falls back to asyncio's own loop.
BENCH_PROFILE=FILE     cProfile the main thread (where grpc.aio runs every handler); stats go to FILE at exit.
"""

import os
import sys

if os.environ.get("BENCH_NO_UVLOOP"):
    sys.modules["uvloop"] = None  # type: ignore[assignment]  # `import uvloop` now raises ImportError

if os.environ.get("BENCH_PROFILE"):
    import atexit
    import cProfile

    _profile = cProfile.Profile()
    _profile.enable()
    atexit.register(lambda: (_profile.disable(), _profile.dump_stats(os.environ["BENCH_PROFILE"])))
