"""Command line: ``zero-nb serve [--host H] [--port P] [--config FILE]``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from .config import load_config
from .errors import ZeroNBError

__all__ = ["main"]


async def _serve(args: argparse.Namespace) -> None:
    from .signaling.server import SignalingServer

    server = SignalingServer(args.host, args.port, config=args.config)
    await server.start()
    print(f"zero_nb signaling server on {server.url}  (web client: "
          f"{server.url.replace('ws', 'http', 1).removesuffix('/ws')}/)  Ctrl-C stops",
          flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping...", flush=True)
    await server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zero-nb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the signaling server in the foreground")
    p_serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p_serve.add_argument("--port", type=int, default=None, help="port (default 8765; 0 = any)")
    p_serve.add_argument("--config", default=None, help="config.yaml path")
    p_serve.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            load_config(args.config)  # fail early with a clear message
            asyncio.run(_serve(args))
    except ZeroNBError as exc:
        print(f"zero-nb: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"zero-nb: cannot listen: {exc.strerror or exc}; try another --port",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
