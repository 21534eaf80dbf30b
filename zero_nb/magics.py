"""IPython magics: ``%load_ext zero_nb`` registers the line magic ``%zero``.

The magics object keeps the current server, room and session recording; they are also
pushed into the user namespace as ``zero_server``, ``zero_room`` and ``zero_recording``.
Errors print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import shlex
from typing import Any

from IPython.core.magic import Magics, line_magic, magics_class

from .errors import ZeroNBError
from .signaling.tokens import split_token

__all__ = ["ZeroMagics", "format_stats", "load_ipython_extension", "unload_ipython_extension"]

USAGE = """\
%zero serve [--host HOST] [--port PORT] [--config FILE_OR_VAR] [--no-auth]
%zero join SESSION [--server URL] [--name NAME] [--password PW] [--config FILE_OR_VAR]
           [--no-video] [--no-audio]
%zero record DIR | %zero record stop
%zero leave
%zero status
%zero stats
%zero stop"""


class _UsageError(Exception):
    """Bad magic arguments (argparse would otherwise exit the kernel)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse calls sys.exit(); raise instead
        raise _UsageError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> Any:
        raise _UsageError(message.strip() if message else USAGE)


def _parser() -> _Parser:
    root = _Parser(prog="%zero", add_help=False)
    sub = root.add_subparsers(dest="command", parser_class=_Parser)
    serve = sub.add_parser("serve", add_help=False)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--config", default=None)
    serve.add_argument("--no-auth", action="store_true")
    join = sub.add_parser("join", add_help=False)
    join.add_argument("session")
    join.add_argument("--server", default=None)
    join.add_argument("--name", default="")
    join.add_argument("--password", default=None)
    join.add_argument("--config", default=None)
    join.add_argument("--no-video", action="store_true")
    join.add_argument("--no-audio", action="store_true")
    record = sub.add_parser("record", add_help=False)
    record.add_argument("target", metavar="DIR|stop")
    for name in ("leave", "status", "stats", "stop"):
        sub.add_parser(name, add_help=False)
    return root


_COLUMNS = (  # (record key, header, format)
    ("name", "peer", "{}"), ("direction", "dir", "{}"), ("kind", "kind", "{}"),
    ("state", "state", "{}"), ("bitrate_kbps", "kbps", "{:.0f}"), ("fps", "fps", "{:.1f}"),
    ("frames", "frames", "{}"), ("packets_lost", "lost", "{}"), ("jitter_ms", "jit_ms", "{:.1f}"),
    ("rtt_ms", "rtt_ms", "{:.1f}"), ("level_db", "dB", "{:.1f}"),
)


def _cell(value: Any, fmt: str) -> str:
    if value is None:
        return "-"
    try:
        return fmt.format(value)
    except (ValueError, TypeError):
        return str(value)


def format_stats(records: list[dict[str, Any]]) -> str:
    """A compact fixed-width table of ``room.stats(flat=True)`` records."""
    if not records:
        return "(no stats: no remote peers yet)"
    rows = [[h for _, h, _ in _COLUMNS]]
    rows += [[_cell(rec.get(k), f) for k, _, f in _COLUMNS] for rec in records]
    widths = [max(len(r[i]) for r in rows) for i in range(len(_COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


@magics_class
class ZeroMagics(Magics):
    """State holder for ``%zero``: ``.server`` (ServerHandle) and ``.room`` (Room)."""

    def __init__(self, shell: Any, server: Any = None, room: Any = None,
                 recording: Any = None) -> None:
        super().__init__(shell)
        self.server = server
        self.room = room
        self.recording = recording

    # -- helpers ----------------------------------------------------------------------------
    def _config(self, value: str | None) -> Any:
        """``--config``: a variable of the user namespace (a dict) or a config file path."""
        if value is None:
            return None
        ns = self.shell.user_ns if self.shell is not None else {}
        if value.isidentifier() and isinstance(ns.get(value), dict):
            return ns[value]
        return value

    def _push(self) -> None:
        if self.shell is not None:
            self.shell.push({"zero_server": self.server, "zero_room": self.room,
                             "zero_recording": self.recording})

    def _room(self) -> Any:
        if self.room is None or self.room.closed:
            raise ZeroNBError("not in a room: %zero join SESSION first")
        return self.room

    # -- the magic --------------------------------------------------------------------------
    @line_magic
    def zero(self, line: str) -> None:
        """Live video calls from this kernel.

        Usage::

          %zero serve [--host HOST] [--port PORT] [--config FILE_OR_VAR] [--no-auth]
              start a signaling server in the background (port 0 picks a free one)
          %zero join SESSION [--server URL] [--name NAME] [--password PW]
                [--config FILE_OR_VAR] [--no-video] [--no-audio]
              join SESSION (default server: the one from %zero serve, else config's);
              the kernel sends a test pattern and a tone unless --no-video/--no-audio
          %zero record DIR   record the session into DIR on one clock (a WebM file per
                             participant, manifest.jsonl; docs/recording.md)
          %zero record stop  finish the recording (leave and stop finish it too)
          %zero leave      leave the current room
          %zero status     server URL and sessions, this kernel's room, peers and states
          %zero stats      a compact table of room.stats(flat=True)
          %zero stop       leave and stop the server started by %zero serve

        ``--config`` takes a config file path or the name of a dict variable
        (e.g. ``CONFIG``). The server, room and recording are in ``zero_server`` /
        ``zero_room`` / ``zero_recording``; a directory named ``stop`` is ``./stop``.
        """
        try:
            args = _parser().parse_args(shlex.split(line))
            if args.command is None:
                raise _UsageError(USAGE)
            getattr(self, f"_cmd_{args.command}")(args)
        except _UsageError as exc:
            print(" ".join(str(exc).split()) if "\n" not in str(exc) else exc)
        except (ZeroNBError, ValueError, KeyError, OSError, TimeoutError) as exc:
            print(f"zero: {type(exc).__name__}: {' '.join(str(exc).split())}")

    def _cmd_serve(self, args: argparse.Namespace) -> None:
        from ._serve import serve

        if self.server is not None and self.server.running:
            print(f"zero: already serving at {self.server.address} (%zero stop first)")
            return
        self.server = serve(args.host, args.port, config=self._config(args.config),
                            auth=False if args.no_auth else None)
        self._push()
        print(f"serving at {self.server.address}\nweb page (share this link): "
              f"{self.server.page_url}")
        from .signaling.links import guests_line

        if (line := guests_line(self.server.proxy_url)) is not None:
            print(line)

    def _cmd_join(self, args: argparse.Namespace) -> None:
        from ._join import join

        if self.room is not None and not self.room.closed:
            print(f"zero: already in {self.room.session!r} (%zero leave first)")
            return
        server = args.server
        if server is None and self.server is not None and self.server.running:
            server = self.server.url
        self.room = join(args.session, server, name=args.name, password=args.password,
                         video=not args.no_video, audio=not args.no_audio,
                         config=self._config(args.config))
        self._push()
        print(f"joined {self.room.session!r} as {self.room.name!r} ({self.room.peer_id})")

    def _recording(self) -> Any:
        if self.recording is None or self.recording.stopped:
            return None
        return self.recording

    def _cmd_record(self, args: argparse.Namespace) -> None:
        if args.target == "stop":
            if self._recording() is None:
                print("zero: not recording (%zero record DIR first)")
                return
            self._stop_recording()
            return
        if (current := self._recording()) is not None:
            print(f"zero: already recording into {current.directory} (%zero record stop first)")
            return
        self.recording = self._room().record_session(args.target)
        self._push()
        print(f"recording {self.room.session!r} into {self.recording.directory} "
              f"(%zero record stop to finish)")

    def _stop_recording(self) -> None:
        """Finish the recording in progress, if any (before leaving: files end cleanly)."""
        recording = self._recording()
        if recording is None:
            return
        try:
            files = recording.stop()
        finally:
            self._push()
        print(f"recorded {len(files)} files into {recording.directory}: "
              f"zero_nb.session.load({str(recording.directory)!r})")

    def _cmd_leave(self, args: argparse.Namespace) -> None:
        room = self._room()
        self._stop_recording()
        room.leave()
        print(f"left {room.session!r}")

    def _cmd_status(self, args: argparse.Namespace) -> None:
        lines = []
        if self.server is not None and self.server.running:
            sessions = self.server.sessions()
            lines.append(f"server: {self.server.address} ({len(sessions)} sessions), "
                         f"page: {self.server.page_url}")
            for sid, members in sessions.items():
                names = ", ".join(m.get("name") or m.get("peer_id", "?") for m in members)
                lines.append(f"  session {sid}: {names or '-'}")
        else:
            lines.append("server: none (%zero serve)")
        if self.room is None or self.room.closed:
            lines.append("room: none (%zero join SESSION)")
        else:
            room = self.room
            lines.append(f"room: session {room.session!r} as {room.name!r} ({room.peer_id}) "
                         f"via {split_token(room.server)[0]}")
            peers = room.peers
            if not peers:
                lines.append("  no remote peers")
            for pid, peer in peers.items():
                lines.append(f"  {peer.name or '-'} ({pid}): {peer.state}, "
                             f"video {peer.video.fps:.1f} fps, audio {peer.audio.level_db:.1f} dB")
        if (recording := self._recording()) is not None:
            lines.append(f"recording: {recording.directory} for {recording.now():.0f} s")
        print("\n".join(lines))

    def _cmd_stats(self, args: argparse.Namespace) -> None:
        print(format_stats(self._room().stats(flat=True)))

    def _cmd_stop(self, args: argparse.Namespace) -> None:
        self._stop_recording()
        if self.room is not None and not self.room.closed:
            self.room.leave()
            print(f"left {self.room.session!r}")
        if self.server is not None and self.server.running:
            self.server.stop()
            print(f"stopped server {self.server.address}")
        self.server = None
        self._push()


def _registered(ipython: Any) -> ZeroMagics | None:
    for obj in ipython.magics_manager.registry.values():
        if type(obj).__name__ == "ZeroMagics":
            return obj  # type: ignore[no-any-return]
    return None


def load_ipython_extension(ipython: Any) -> None:
    """Register ``%zero``; a reload keeps the current server and room."""
    old = _registered(ipython)
    ns = ipython.user_ns
    server = old.server if old is not None else ns.get("zero_server")
    room = old.room if old is not None else ns.get("zero_room")
    recording = old.recording if old is not None else ns.get("zero_recording")
    magics = ZeroMagics(ipython, server=server, room=room, recording=recording)
    ipython.register_magics(magics)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove ``%zero``; the server, room and recording keep running (``zero_server`` /
    ``zero_room`` / ``zero_recording``)."""
    old = _registered(ipython)
    if old is not None:
        old._push()
    ipython.magics_manager.magics["line"].pop("zero", None)
