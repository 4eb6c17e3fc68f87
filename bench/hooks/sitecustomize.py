"""Put on PYTHONPATH by the benchmark to vary how an unmodified adapter runs, through the environment.

BENCH_NO_UVLOOP=1      uvloop cannot be imported, so the adapter falls back to asyncio's own loop.
BENCH_PROFILE=FILE     cProfile the main thread (where grpc.aio runs every handler); stats go to FILE at exit.
BENCH_HANDLER_CPU=FILE every sync gRPC unary handler timed with its thread's CPU clock: "checks nanoseconds"
                       (running totals) rewritten in FILE five times a second. Under load it tells the handler's
                       own CPU apart from what grpc spends around it, and unlike req/s it moves little with the
                       host's noise.
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

if os.environ.get("BENCH_HANDLER_CPU"):
    import threading
    import time

    import grpc

    _made = grpc.unary_unary_rpc_method_handler
    _local = threading.local()
    _tallies: list[list[int]] = []  # one [checks, ns] per handler thread: no lost update, no lock per call

    def _timed(behavior):
        def timed(request, context):
            started = time.thread_time_ns()
            try:
                return behavior(request, context)
            finally:
                tally = getattr(_local, "tally", None)
                if tally is None:
                    tally = _local.tally = [0, 0]
                    _tallies.append(tally)
                tally[0] += 1
                tally[1] += time.thread_time_ns() - started

        return timed

    def _handler(behavior, *args, **kwargs):
        return _made(_timed(behavior), *args, **kwargs)

    grpc.unary_unary_rpc_method_handler = _handler

    def _report(path: str) -> None:
        while True:
            time.sleep(0.2)
            totals = [sum(t[0] for t in list(_tallies)), sum(t[1] for t in list(_tallies))]
            with open(path + ".tmp", "w") as out:
                out.write(f"{totals[0]} {totals[1]}")
            os.replace(path + ".tmp", path)

    threading.Thread(target=_report, args=(os.environ["BENCH_HANDLER_CPU"],), daemon=True).start()
