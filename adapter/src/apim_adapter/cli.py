"""`apim-adapter serve|validate|probe|mesh-sync --config FILE`."""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .config import ConfigError, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="apim-adapter", description=__doc__)
    parser.add_argument("--version", action="version", version=f"apim-adapter {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("serve", "run the ext_authz server"),
        ("validate", "check a config (and its catalog)"),
        ("probe", "reach every dependency the config names (key managers, APIM, its event hub, Redis) once"),
        ("mesh-sync", "route the APIs deployed in APIM on Istio's ingress gateway (needs meshSync)"),
    ):
        p = sub.add_parser(name, help=help_)
        p.add_argument("--config", required=True, help="the adapter's YAML config file")
        if name == "probe":
            p.add_argument("--mesh-sync", action="store_true",
                           help="what mesh-sync depends on instead: APIM, its event hub and the Kubernetes API "
                                "server with mesh-sync's identity (its permissions, the kinds it writes); with "
                                "exportServices, APIM's Publisher API (the token's scopes, the vhost)")  # fmt: skip
    args = parser.parse_args(argv)

    try:
        config = load(args.config)
        if args.command == "validate":
            from .app import validate

            counts = validate(config)
            summary = ", ".join(f"{n} {k}" for k, n in counts.items())
            print(f"{args.config}: valid" + (f" (catalog: {summary})" if summary else ""))
            return 0
        if args.command == "serve":
            from .backend_jwt import signer_for
            from .transport.grpc import request_reader

            request_reader(config.server.grpc_request_reader)  # `compiled` without it installed: refused here
            signer_for(config)  # a backend JWT key that cannot be used: refused here, not as a traceback
    except ConfigError as exc:
        print(f"apim-adapter: invalid configuration: {exc}", file=sys.stderr)
        return 2

    from . import logs

    logs.setup(config.logging.level)
    if args.command == "probe":
        import asyncio

        from .probe import probe

        try:
            if args.mesh_sync and config.mesh_sync is None:
                print(f"apim-adapter: {args.config} has no meshSync section to probe", file=sys.stderr)
                return 2
            findings = asyncio.run(probe(config, mesh_sync=args.mesh_sync))
        except ConfigError as exc:  # a secret file the control plane reads when it is made
            print(f"apim-adapter: invalid configuration: {exc}", file=sys.stderr)
            return 2
        for finding in findings:
            print(finding)
        if not findings:
            print(f"{args.config}: names no dependency to probe (no JWKS, introspection, APIM or Redis)")
        return 0 if all(f.ok for f in findings) else 1
    if args.command == "mesh-sync":
        from .meshsync.run import run as mesh_sync

        return mesh_sync(config)
    if config.server.workers > 1:
        from .workers import supervise

        return supervise(args.config, config)
    from .app import run

    return run(config)


if __name__ == "__main__":
    sys.exit(main())
