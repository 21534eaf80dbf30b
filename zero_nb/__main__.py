"""Command line: ``zero-nb serve [--host H] [--port P] [--config FILE]`` and
``zero-nb bot SESSION [--server URL] [--file PATH [--encoded]] ...`` (a kernel-only participant)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import Any

from .config import load_config
from .errors import ZeroNBError

__all__ = ["main"]


async def _serve(args: argparse.Namespace) -> None:
    from ._serve import create_server

    server = create_server(args.host, args.port, config=args.config,
                           auth=False if args.no_auth else None)
    await server.start()
    print(f"zero_nb signaling server on {server.url}\n"
          f"web page (share this link): {server.page_url}\nCtrl-C stops", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print("stopping...", flush=True)
    await server.stop()


def _parse_rgb(text: str) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in text.split(","))
    return r, g, b


def _bot_sources(args: argparse.Namespace) -> tuple[Any, Any]:
    """The bot's (video, audio): a file (``--encoded``: its packets unchanged), a colour,
    a test pattern; ``--tone`` replaces the audio."""
    from . import sources

    if args.encoded and not args.file:
        raise ZeroNBError("--encoded sends a file's packets unchanged: give --file PATH")
    video: Any = None
    audio: Any = None
    if args.file:
        video, audio = sources.from_file(args.file, loop=not args.once, encoded=args.encoded)
    elif not args.no_video:
        w, h = (int(v) for v in args.size.split("x"))
        video = sources.solid(_parse_rgb(args.color), w, h, args.fps) if args.color \
            else sources.test_pattern(w, h, args.fps)
    if args.no_video:
        video = None
    if args.tone:
        freq, level = (float(v) for v in args.tone.split(":"))
        audio = sources.tone(freq, level)
    return video, audio


def _bot(args: argparse.Namespace) -> None:
    """A kernel-only participant: sends synthetic media, prints what it receives."""
    import threading
    import time

    from ._join import join

    video, audio = _bot_sources(args)
    room = join(args.session, args.server, name=args.name, password=args.password,
                video=video, audio=audio, config=args.config)
    print(f"joined {room.session} as {room.name} ({room.peer_id})", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    try:
        deadline = time.monotonic() + args.duration if args.duration else None
        while not stop.wait(args.report):
            for peer in room.peers.values():
                img = peer.video.latest()
                mean = "-" if img is None else ",".join(f"{v:.0f}" for v in
                                                        img.reshape(-1, 3).mean(0))
                print(f"peer {peer.name} state={peer.state} video_fps={peer.video.fps:.1f} "
                      f"rgb={mean} level_db={peer.audio.level_db:.1f}", flush=True)
            if deadline is not None and time.monotonic() > deadline:
                break
    except KeyboardInterrupt:
        pass
    room.leave()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zero-nb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_serve = sub.add_parser("serve", help="run the signaling server in the foreground")
    p_serve.add_argument("--host", default=None, help="bind address (default 127.0.0.1)")
    p_serve.add_argument("--port", type=int, default=None, help="port (default 8765; 0 = any)")
    p_serve.add_argument("--config", default=None, help="config.yaml path")
    p_serve.add_argument("--no-auth", action="store_true",
                         help="no access token: anyone who reaches the port may join")
    p_serve.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p_bot = sub.add_parser("bot", help="join a session as a kernel-only bot")
    p_bot.add_argument("session")
    p_bot.add_argument("--server", default=None, help="ws:// URL (default from config)")
    p_bot.add_argument("--name", default="bot")
    p_bot.add_argument("--password", default=None)
    p_bot.add_argument("--config", default=None, help="config.yaml path")
    p_bot.add_argument("--size", default="160x120", help="video WxH")
    p_bot.add_argument("--fps", type=float, default=30)
    p_bot.add_argument("--color", default=None, help="solid colour R,G,B instead of a pattern")
    p_bot.add_argument("--no-video", action="store_true")
    p_bot.add_argument("--tone", default=None, help="send a tone FREQ_HZ:LEVEL_DB")
    p_bot.add_argument("--file", default=None, help="send this media file (looped)")
    p_bot.add_argument("--encoded", action="store_true",
                       help="with --file: send its VP8/H.264/Opus packets unchanged (no "
                            "decode, no encode; see zero_nb/kernel_rtc/encoded.py)")
    p_bot.add_argument("--once", action="store_true", help="with --file: play it once")
    p_bot.add_argument("--duration", type=float, default=0, help="seconds, 0 = until killed")
    p_bot.add_argument("--report", type=float, default=1.0, help="status line interval (s)")
    p_bot.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if args.command == "serve":
            load_config(args.config)  # fail early with a clear message
            asyncio.run(_serve(args))
        elif args.command == "bot":
            _bot(args)
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
