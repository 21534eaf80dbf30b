"""SFU mode: sessions whose media goes through a Janus VideoRoom instead of a full mesh.

The signaling server stays the authority for roster, auth and chat (:mod:`.bridge` maps each
session to a Janus room); the kernel publishes once and subscribes per feed (:mod:`.room`);
:mod:`.janus` is the small async client of Janus' WebSocket API both use.
"""

from .janus import JanusError, JanusHandle, JanusSession

__all__ = ["JanusError", "JanusHandle", "JanusSession"]
