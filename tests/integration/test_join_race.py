"""An offer right behind `joined` (one TCP read) is answered: the race that left a newcomer's
peers in 'new' forever when the peers already there offered faster than its join resumed."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from websockets.asyncio.server import ServerConnection, serve

import zero_nb
from tests.conftest import UNIT

pytestmark = pytest.mark.media


class BackToBackServer:
    """Answers `join` with `joined` (one peer there) and that peer's offer in the same write."""

    def __init__(self) -> None:
        self.answers: list[dict[str, Any]] = []
        self.ready = threading.Event()
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _offer(self) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        for kind in ("audio", "video"):
            pc.addTransceiver(kind, direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        self._pc = pc
        return pc.localDescription.sdp

    async def _handle(self, ws: ServerConnection) -> None:
        await ws.recv()  # join
        sdp = await self._offer()
        joined = {"type": "joined", "v": 1, "session": "race", "peer_id": "p2",
                  "peers": [{"peer_id": "p1", "name": "first"}]}
        offer = {"type": "offer", "from": "p1", "sdp": sdp}
        # both frames in one go: the client reads the offer before join() resumes
        transport = ws.transport
        frames = []
        for message in (joined, offer):
            ws.protocol.send_text(json.dumps(message).encode())
            frames.extend(ws.protocol.data_to_send())
        transport.write(b"".join(frames))
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "answer":
                self.answers.append(message)

    async def _start(self) -> None:
        self.server = await serve(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()

    def __enter__(self) -> BackToBackServer:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_offer_right_behind_joined_is_answered(media_config: dict[str, Any]) -> None:
    with BackToBackServer() as server:
        room = zero_nb.join("race", f"ws://127.0.0.1:{server.port}/ws", name="second",
                            config=media_config["dict"])
        try:
            deadline = time.monotonic() + 5 * UNIT
            while not server.answers and time.monotonic() < deadline:
                time.sleep(0.05)
            assert server.answers, "the offer that came with `joined` was never answered"
            assert set(room.peers) == {"p1"}
        finally:
            room.leave()
