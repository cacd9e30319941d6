"""Visible progress for every long-running command, in one place.

On a terminal a rich progress bar on stderr; off a terminal (a CI log, a pipe)
a plain line on stderr every ``PARSYNC_PROGRESS_INTERVAL`` seconds (default
10), in TLC's style::

    parsync check pr: 812,004 states generated, 190,255 distinct, 41,870 on queue,
    depth 11, 31,420 states/s, RSS 412 MB, 9% of 2,070,097 (ETA 0:01:05)

The percentage and the ETA appear when the total is known: for a search, the
distinct-state count ``spec/manifest.json`` records for the same scope (same
config, symmetry on, no variant; :func:`known_states`); for counted work
(obligations, runs, presets, depths) the count itself. ``check``, ``check
--liveness``, ``gate`` (per stage), ``bench``, ``manifest``, ``prove``, ``bmc``,
``simulate`` and ``trace`` all report through :class:`Display`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import IO, Any

ENV_INTERVAL = "PARSYNC_PROGRESS_INTERVAL"
DEFAULT_INTERVAL = 10.0


def interval() -> float:
    """Seconds between plain progress lines (``PARSYNC_PROGRESS_INTERVAL``, default 10)."""
    raw = os.environ.get(ENV_INTERVAL, "")
    try:
        v = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL
    return v if v > 0 else DEFAULT_INTERVAL


def rss_bytes() -> int | None:
    """The resident set size of this process (VmRSS), or its peak where /proc is absent."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024
    except (ImportError, OSError):  # pragma: no cover - not a Unix
        return None


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _share(done: float, total: int | None, rate: float) -> str:
    """``, 43% of 2,070,097 (ETA 0:01:20)`` when the total is known, else ""."""
    if not total:
        return ""
    pct = min(99 if done < total else 100, int(100 * done / total))  # 100% only when done
    eta = f" (ETA {_clock((total - done) / rate)})" if rate > 0 and done < total else ""
    return f", {pct}% of {total:,}{eta}"


def _rss() -> str:
    r = rss_bytes()
    return f"RSS {r / 2**20:,.0f} MB" if r is not None else "RSS n/a"


def search_text(
    states: int,
    transitions: int,
    depth: int | None,
    queue: int,
    seconds: float,
    total: int | None = None,
) -> str:
    """The figures of a state-space search, TLC style (without the label)."""
    rate = states / seconds if seconds > 0 else 0.0
    d = f", depth {depth}" if depth is not None else ""
    return (
        f"{transitions:,} states generated, {states:,} distinct, {queue:,} on queue{d}, "
        f"{rate:,.0f} states/s, {_rss()}{_share(states, total, rate)}"
    )


def count_text(done: int, total: int | None, unit: str, seconds: float, detail: str = "") -> str:
    """The figures of counted work: ``3/12 obligations, 25%, 0:00:40 elapsed, ETA ...``."""
    rate = done / seconds if seconds > 0 else 0.0
    of = f"/{total:,}" if total else ""
    pct = ""
    if total:
        pct = f", {min(99 if done < total else 100, int(100 * done / total))}%"
        if rate > 0 and done < total:
            pct += f" (ETA {_clock((total - done) / rate)})"
    more = f", {detail}" if detail else ""
    return f"{done:,}{of} {unit}{pct}{more}, {_clock(seconds)} elapsed, {_rss()}"


def known_states(
    config_describe: str, *, liveness: bool = False, policy: str = "reference"
) -> int | None:
    """The distinct-state count ``spec/manifest.json`` records for this scope, if any
    (under ``policy``: the ``contract`` table records the contract's counts).

    Only meaningful for the design (no variant) with symmetry on for a safety
    search (as the manifest records); the caller decides when it applies.
    """
    from parsync.manifest import DEFAULT_PATH

    try:
        doc = json.loads(Path(DEFAULT_PATH).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    table = "contract" if policy == "contract" and not liveness else "presets"
    section = doc.get("liveness" if liveness else table, {})
    if not isinstance(section, dict):
        return None
    for entry in section.values():
        if isinstance(entry, dict) and entry.get("config") == config_describe:
            n = entry.get("states")
            if isinstance(n, int) and n > 0:
                return n
    return None


class Display:
    """One progress display: a rich bar on a terminal, periodic plain lines elsewhere.

    ``label`` starts every line (``parsync check pr``). ``update(text, done,
    total)`` hands over the latest figures; off a terminal a line is printed
    when ``interval()`` seconds have passed since the last one (so a fast run
    prints nothing), and a heartbeat thread repeats the latest figures (with the
    time elapsed) when one step of the work - a long simulation run, a hard Z3
    query, a blocked read - goes a whole interval without new figures.
    ``enabled=False`` makes every call a no-op.
    """

    def __init__(
        self,
        label: str,
        *,
        enabled: bool = True,
        stream: IO[str] | None = None,
        tty: bool | None = None,
        every: float | None = None,
        heartbeat: bool = True,
    ) -> None:
        self.label = label
        self.enabled = enabled
        self.stream = stream if stream is not None else sys.stderr
        self.tty = tty if tty is not None else _isatty(self.stream)
        self.every = every if every is not None else interval()
        self.t0 = time.monotonic()
        self._last = self.t0
        self._bar: Any = None
        self._task: Any = None
        self._text = "started"
        self._updated = self.t0  # when the figures last changed
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None
        self._heartbeat_on = heartbeat

    # --- context --------------------------------------------------------------------
    def __enter__(self) -> Display:
        if self.enabled and self.tty:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]{task.fields[label]}[/bold]"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.description}"),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("starting", total=None, label=self.label)
        elif self.enabled and self._heartbeat_on:
            self._beat = threading.Thread(target=self._heartbeat, name="progress", daemon=True)
            self._beat.start()
        return self

    def __exit__(
        self,
        tp: type[BaseException] | None,
        e: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(1.0)
            self._beat = None
        if self._bar is not None:
            self._bar.__exit__(tp, e, tb)
            self._bar = None

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.every):
            with self._lock:
                now = time.monotonic()
                if now - self._last >= self.every and now - self._updated >= self.every:
                    self._emit(f"{self._text} (still running, {_clock(self.seconds)} elapsed)")

    def _emit(self, text: str) -> None:
        self._last = time.monotonic()
        try:
            print(f"{self.label}: {text}", file=self.stream, flush=True)
        except (OSError, ValueError):  # pragma: no cover - stderr closed under us
            pass

    # --- updates --------------------------------------------------------------------
    @property
    def seconds(self) -> float:
        return time.monotonic() - self.t0

    def relabel(self, label: str) -> None:
        """A new stage of the same run (the gate's stages): new label, clock restarted."""
        with self._lock:
            self.label = label
            self.t0 = self._last = self._updated = time.monotonic()
            self._text = "started"
        if self._bar is not None:
            self._bar.reset(self._task, total=None, description="starting", label=label)

    def update(self, text: str, done: float | None = None, total: float | None = None) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.update(self._task, description=text, completed=done or 0, total=total)
            return
        with self._lock:
            self._text = text
            self._updated = time.monotonic()
            if self._updated - self._last >= self.every:
                self._emit(text)

    def note(self, text: str) -> None:
        """A line that stays (a checkpoint written, a stop asked for), progress on or off."""
        if self._bar is not None:
            self._bar.console.print(f"{self.label}: {text}", highlight=False, markup=False)
            return
        with self._lock:
            self._emit(text)

    def search(
        self,
        states: int,
        transitions: int,
        depth: int | None,
        queue: int,
        seconds: float,
        total: int | None = None,
    ) -> None:
        """A state-space search's figures (checker, liveness graph)."""
        if self.enabled:
            self.update(
                search_text(states, transitions, depth, queue, seconds, total), states, total
            )

    def count(self, done: int, total: int | None, unit: str, detail: str = "") -> None:
        """Counted work: obligations, runs, presets, depths, events."""
        if self.enabled:
            self.update(count_text(done, total, unit, self.seconds, detail), done, total)


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


__all__ = [
    "DEFAULT_INTERVAL",
    "ENV_INTERVAL",
    "Display",
    "count_text",
    "interval",
    "known_states",
    "rss_bytes",
    "search_text",
]
