"""A participant in its own process, driven over stdin/stdout (one JSON line each way).

``python participant.py NAME R,G,B PORT``: ``zero_nb.join("lab", name=NAME)`` with no server
(``signaling.server_address`` on 127.0.0.1:PORT), sending a solid colour. Commands: ``peers``
(name -> mean RGB of the newest frame, or None), ``sessions`` (its embedded server's sessions,
or None), ``quit``.
"""

from __future__ import annotations

import json
import logging
import sys


def main() -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    import zero_nb
    from zero_nb import sources
    from zero_nb._join import embedded_server
    from zero_nb.signaling.tokens import split_token

    name, color, port = sys.argv[1], tuple(int(c) for c in sys.argv[2].split(",")), sys.argv[3]
    config = {"webrtc": {"host_addresses": ["127.0.0.1"], "ice_servers": []},
              "signaling": {"server_address": f"ws://127.0.0.1:{port}/ws"}}
    room = zero_nb.join("lab", name=name, video=sources.solid(color), config=config)
    own = embedded_server()
    print(json.dumps({"server": split_token(room.server)[0], "embedded": own is not None}),
          flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "peers":
            out = {}
            for peer in room.peers.values():
                img = peer.video.latest()
                out[peer.name] = None if img is None else \
                    [round(float(v)) for v in img.reshape(-1, 3).mean(axis=0)]
            print(json.dumps(out), flush=True)
        elif command == "sessions":
            print(json.dumps(None if own is None else own.sessions()), flush=True)
        elif command == "quit":
            break
    room.leave()
    if own is not None:
        own.stop()


if __name__ == "__main__":
    main()
