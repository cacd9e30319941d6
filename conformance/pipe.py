"""The language-neutral adapter: ``--parsync-impl=exec:COMMAND``.

The suite starts COMMAND (split like a shell would, no shell run) once per
run and speaks one JSON object per line over its stdin and stdout
(``spec/adapter-protocol.schema.json``; docs/conformance.md section 2a):

* request ``{"call": NAME, ...arguments}``: ``reset`` with ``config`` (the same
  dict a Python adapter gets), ``start_cycle``/``schedule``/``crash``/``recover``
  with ``worker``, ``release`` with ``need``, ``deliver``/``drop``/``duplicate``
  with ``id``, and ``broker_step``, ``failover``, ``observe``, ``close`` with
  nothing;
* reply ``{"ok": VALUE}`` (``VALUE`` is the observation for ``observe``, else
  anything, usually null) or ``{"error": "one line"}``.

Anything else is a clear one-line failure naming the call: no reply within the
per-step timeout, the process exiting (with the tail of its stderr), a line
that is not JSON, a reply of the wrong shape. The process's stderr is free
for its own logging; after ``close`` it must exit (it is killed otherwise).
"""

from __future__ import annotations

import atexit
import json
import queue
import shlex
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Mapping
from typing import Any

from parsync.conformance.adapter import AdapterError

PREFIX = "exec:"
#: the calls and the argument each takes (None: no argument)
CALLS: dict[str, str | None] = {
    "reset": "config",
    "start_cycle": "worker",
    "schedule": "worker",
    "broker_step": None,
    "deliver": "id",
    "release": "need",
    "crash": "worker",
    "recover": "worker",
    "drop": "id",
    "duplicate": "id",
    "failover": None,
    "observe": None,
    "close": None,
}
CLOSE_WAIT = 5.0  # seconds a process may take to exit after close


class PipeError(AdapterError):
    """The process behind an exec adapter misbehaved (one line)."""


class ExecAdapter:
    """An adapter whose implementation is another process, in any language."""

    #: processes of closed adapters, by command, kept for the next adapter of the same
    #: command (each run begins with ``reset``, which starts the scheduler over); a
    #: Hypothesis run has one adapter per example, and starting a process for each
    #: would cost more than the run. At exit each gets its ``close``.
    _idle: dict[str, list[ExecAdapter]] = {}

    def __new__(cls, command: str, timeout: float = 10.0) -> ExecAdapter:
        pool = cls._idle.get(command)
        while pool:
            ad = pool.pop()
            if ad.proc.poll() is None:
                ad.closed = False
                ad.timeout = timeout
                ad._reused = True
                return ad
        return super().__new__(cls)

    def __init__(self, command: str, timeout: float = 10.0) -> None:
        if getattr(self, "_reused", False):
            self._reused = False
            return
        self._reused = False
        self.command = command
        self.argv = shlex.split(command)
        if not self.argv:
            raise PipeError("--parsync-impl=exec: needs a command, e.g. exec:'node sched.js'")
        self.timeout = timeout
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._err: deque[str] = deque(maxlen=20)
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                bufsize=1,
            )
        except OSError as e:
            raise PipeError(f"cannot start exec adapter {command!r}: {e.strerror or e}") from None
        self._threads = [
            threading.Thread(target=self._read_out, name="parsync-exec-out", daemon=True),
            threading.Thread(target=self._read_err, name="parsync-exec-err", daemon=True),
        ]
        for t in self._threads:
            t.start()
        self.closed = False
        self.stuck = False  # a call timed out: close kills without asking

    # -- the two pipes the process writes ------------------------------------------------
    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._err.append(line.rstrip("\n"))

    def _gone(self, call: str) -> PipeError:
        try:
            code = self.proc.wait(1.0)
        except subprocess.TimeoutExpired:
            code = None
        tail = " | ".join(x for x in list(self._err)[-3:] if x.strip())
        how = "closed its stdout" if code is None else f"exited with code {code}"
        return PipeError(
            f"exec adapter {self.command!r} {how} during {call}"
            + (f" (stderr: {tail[-300:]})" if tail else "")
        )

    # -- one call ---------------------------------------------------------------------------
    def call(self, call: str, arg: Any = None) -> Any:
        key = CALLS[call]
        msg: dict[str, Any] = {"call": call}
        if key is not None:
            msg[key] = arg
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(json.dumps(msg, separators=(",", ":")) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            raise self._gone(call) from None
        try:
            line = self._lines.get(timeout=self.timeout)
        except queue.Empty:
            self.stuck = True
            raise PipeError(
                f"exec adapter {self.command!r} did not answer {call} within "
                f"{self.timeout:g}s (per-step timeout)"
            ) from None
        if line is None:
            raise self._gone(call)
        try:
            reply = json.loads(line)
        except json.JSONDecodeError:
            self.stuck = True  # out of step with the protocol: never reused
            shown = line.strip()
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise PipeError(f"the reply to {call} is not JSON: {shown!r}") from None
        if not isinstance(reply, dict) or len(reply.keys() & {"ok", "error"}) != 1:
            self.stuck = True
            shown = json.dumps(reply)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise PipeError(
                f'the reply to {call} must be {{"ok": ...}} or {{"error": "..."}}, got {shown}'
            )
        if "error" in reply:
            raise PipeError(f"the implementation answered {call} with error: {reply['error']}")
        return reply["ok"]

    # -- the adapter's methods -------------------------------------------------------------
    def reset(self, config: Mapping[str, Any]) -> None:
        self.call("reset", dict(config))

    def start_cycle(self, worker: int) -> None:
        self.call("start_cycle", worker)

    def schedule(self, worker: int) -> None:
        self.call("schedule", worker)

    def broker_step(self) -> None:
        self.call("broker_step")

    def deliver(self, message_id: str) -> None:
        self.call("deliver", message_id)

    def release(self, need: int) -> None:
        self.call("release", need)

    def crash(self, worker: int) -> None:
        self.call("crash", worker)

    def recover(self, worker: int) -> None:
        self.call("recover", worker)

    def drop(self, message_id: str) -> None:
        self.call("drop", message_id)

    def duplicate(self, message_id: str) -> None:
        self.call("duplicate", message_id)

    def failover(self) -> None:
        self.call("failover")

    def observe(self) -> Mapping[str, Any]:
        got = self.call("observe")
        return got  # type: ignore[no-any-return]  # its shape is checked by the suite

    def close(self) -> None:
        """End this run: a healthy process is kept for the next adapter of the same
        command (see ``_idle``); a stuck or dead one is made sure to be gone."""
        if self.closed:
            return
        self.closed = True
        if not self.stuck and self.proc.poll() is None:
            if not ExecAdapter._idle:
                atexit.register(ExecAdapter.shutdown_all)
            ExecAdapter._idle.setdefault(self.command, []).append(self)
            return
        self.shutdown()

    @classmethod
    def shutdown_all(cls) -> None:
        """``close`` every kept process (at exit, or when a caller wants them gone)."""
        pools, cls._idle = cls._idle, {}
        for pool in pools.values():
            for ad in pool:
                ad.shutdown()

    def shutdown(self) -> None:
        """Ask the process to close, then make sure it is gone."""
        self.closed = True
        try:
            if self.stuck:
                self.proc.kill()
            elif self.proc.poll() is None:
                try:
                    self.call("close")
                except PipeError:
                    pass
        finally:
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(CLOSE_WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(CLOSE_WAIT)


# --- the other end, for Python adapters: ``python -m parsync.conformance.pipe MODULE`` ---


def serve(target: str, stdin: Any = None, stdout: Any = None) -> int:
    """Serve a Python adapter (``MODULE[:FACTORY]``) over the pipe protocol until
    ``close`` or end of input: the reference end of the protocol, and how a Python
    adapter is run through the same path as an implementation in another language."""
    from parsync.conformance.adapter import load_adapter

    inp = stdin or sys.stdin
    out = stdout or sys.stdout
    try:
        ad = load_adapter(target)
    except AdapterError as e:
        print(f"parsync pipe: {e}", file=sys.stderr)
        return 2
    for line in inp:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
            call = req["call"]
            key = CALLS[call]
            fn = getattr(ad, call)
            val = fn() if key is None else fn(req[key])
            reply: dict[str, Any] = {"ok": val if call == "observe" else None}
        except Exception as e:  # noqa: BLE001 - every failure is a reply
            reply = {"error": f"{type(e).__name__}: {e}"}
            call = None
        out.write(json.dumps(reply, separators=(",", ":")) + "\n")
        out.flush()
        if call == "close":
            return 0
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess by the tests
    if len(sys.argv) != 2:
        print("usage: python -m parsync.conformance.pipe MODULE[:FACTORY]", file=sys.stderr)
        sys.exit(2)
    sys.exit(serve(sys.argv[1]))
