"""`apim-adapter serve|validate --config FILE`."""

from __future__ import annotations

import argparse
import asyncio
import sys

from . import __version__
from .config import ConfigError, load

SWITCH_INTERVAL = 0.0005


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="apim-adapter", description=__doc__)
    parser.add_argument("--version", action="version", version=f"apim-adapter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("serve", "run the ext_authz server"),
        ("validate", "check a config (and its catalog)"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", required=True, help="the adapter's YAML config file")
    args = parser.parse_args(argv)

    try:
        config = load(args.config)
        if args.command == "validate":
            from .app import validate

            counts = validate(config)
            summary = ", ".join(f"{n} {k}" for k, n in counts.items())
            print(f"{args.config}: valid" + (f" (catalog: {summary})" if summary else ""))
            return 0
    except ConfigError as exc:
        print(f"apim-adapter: invalid configuration: {exc}", file=sys.stderr)
        return 2

    from . import logs

    logs.setup(config.logging.level)
    if config.server.workers > 1:
        from .workers import supervise

        return supervise(args.config, config)
    return run(config)


def run(config) -> int:
    from .app import Adapter

    # Check threads share the GIL with the event loop; Python's default 5 ms switch interval would let one
    # long stretch of loop work (a catalog swap, an analytics flush) hold every check for that long.
    sys.setswitchinterval(SWITCH_INTERVAL)

    loop: asyncio.AbstractEventLoop
    try:
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(Adapter(config).serve())
    finally:
        # Give leftover tasks (client libraries' connection handlers) a bounded time to finish: a
        # library that ignores cancellation must not turn SIGTERM into a SIGKILL.
        pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=2))
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
