"""Several worker processes on the same ports (SO_REUSEPORT), since one Python process uses one core.

Each worker is a whole adapter; Prometheus metrics are shared through a multiprocess directory so that
any worker's /metrics reports all of them. A worker that dies is restarted. Local rate-limit counters are
per worker: use `rateLimit.backend: redis` for exact limits with several workers or replicas.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import tempfile
import time

log = logging.getLogger(__name__)
RESTART_BACKOFF = 1.0


def _worker(config_path: str) -> None:
    from . import logs
    from .app import run
    from .config import load

    config = load(config_path)
    logs.setup(config.logging.level)
    run(config)


def supervise(config_path: str, config) -> int:
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="apim-adapter-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        workers = [ctx.Process(target=_worker, args=(config_path,), daemon=True) for _ in range(config.server.workers)]
        for w in workers:
            w.start()
        log.info("workers started", extra={"workers": len(workers)})
        while not stopping:
            time.sleep(0.2)
            for i, w in enumerate(workers):
                if not w.is_alive() and not stopping:
                    log.error("worker exited; restarting", extra={"pid": w.pid, "exitcode": w.exitcode})
                    time.sleep(RESTART_BACKOFF)
                    workers[i] = ctx.Process(target=_worker, args=(config_path,), daemon=True)
                    workers[i].start()
        for w in workers:
            if w.is_alive():
                w.terminate()  # SIGTERM
        for w in workers:
            w.join(10)
    return 0
