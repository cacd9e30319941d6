"""An exec adapter that misbehaves on purpose: ``python -m tests.support.pipe_faults MODE CALL``.

It serves the model adapter over the pipe protocol (as ``parsync.conformance.pipe``
does) until the request ``CALL`` arrives, then does MODE instead of answering:
``hang`` (never answers), ``exit`` (exits with code 3 after a line on stderr),
``garbage`` (a line that is not JSON), ``shape`` (a JSON list), ``error`` (an
``error`` reply).
"""

from __future__ import annotations

import io
import json
import sys
import time


def main() -> int:
    mode, when = sys.argv[1], sys.argv[2]
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        if req["call"] == when:
            if mode == "hang":
                time.sleep(60)
            elif mode == "exit":
                print("pipe_faults: giving up", file=sys.stderr, flush=True)
                return 3
            elif mode == "garbage":
                out.write("hello, this is not json\n")
            elif mode == "shape":
                out.write("[1, 2]\n")
            elif mode == "error":
                out.write(json.dumps({"error": "no such thing"}) + "\n")
            out.flush()
            continue
        buf = io.StringIO()
        serve_one(line, buf)
        out.write(buf.getvalue())
        out.flush()
        if req["call"] == "close":
            return 0
    return 0


_ADAPTER: list[object] = []


def serve_one(line: str, buf: io.StringIO) -> None:
    """One request through ``serve`` on a persistent model adapter."""
    from tests.support.model_adapter import ModelAdapter

    if not _ADAPTER:
        _ADAPTER.append(ModelAdapter())
    ad = _ADAPTER[0]
    req = json.loads(line)
    fn = getattr(ad, req["call"])
    arg = next((req[k] for k in ("config", "worker", "need", "id") if k in req), None)
    val = fn() if arg is None else fn(arg)
    buf.write(json.dumps({"ok": val if req["call"] == "observe" else None}) + "\n")


if __name__ == "__main__":
    sys.exit(main())
