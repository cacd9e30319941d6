"""The bodies of ``parsync trace`` and ``parsync record`` (``parsync/cli.py`` only wires them).

``parsync trace FILE... [--json]``: validate traces; exit 0 every trace valid,
1 one is invalid, 2 one is unreadable (bad input: file and line on stderr,
never a traceback), 3 a ``--max-seconds`` budget stopped one first.

``parsync record --out FILE [--impl MODULE] [--seed N] [--steps N]``: run the
reference scheduler (or one of its mutants, any module whose
``parsync_adapter()`` is a ``RefSchedAdapter``) freely with real threads and
faults, and write its trace.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from parsync.traces.format import SCHEMA_FILE
from parsync.traces.validate import EXIT_CODES, Progress, TraceResult, validate_path


def nonneg_int(text: str) -> int:
    """argparse type: an integer >= 0 (one-line error quoting the value)."""
    import argparse

    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


class CommandError(Exception):
    """Bad usage: one line, exit 2 (the CLI turns it into its UsageError)."""


@contextmanager
def _progress_bar(enabled: bool, label: str) -> Iterator[Progress | None]:
    """A rich progress bar on stderr (bytes read), only when stderr is a terminal."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[events]:>12,} events"),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None, events=0)

        def tick(events: int, done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total, events=events)

        yield tick


def run_trace(
    files: list[str],
    *,
    as_json: bool,
    max_hidden: int,
    max_candidates: int,
    max_seconds: float | None,
    show_schema: bool,
) -> int:
    if show_schema:
        sys.stdout.write(SCHEMA_FILE.read_text(encoding="utf-8"))
        return 0
    if not files:
        raise CommandError("give at least one trace FILE (or --schema)")
    results: list[TraceResult] = []
    for f in files:
        with _progress_bar(not as_json, f"validating {f}") as tick:
            r = validate_path(
                f,
                max_hidden=max_hidden,
                max_candidates=max_candidates,
                progress=tick,
                max_seconds=max_seconds,
            )
        results.append(r)
        if not as_json:
            if r.verdict == "unreadable":
                print(f"parsync: error: {r.headline}", file=sys.stderr)
            else:
                print(r.explanation)
                if r.verdict == "valid":
                    print(
                        f"  {r.seconds:.2f} s, {r.events / max(r.seconds, 1e-9):,.0f} events/s, "
                        f"{r.hidden_steps} event(s) after hidden steps, "
                        f"at most {r.peak_candidates} candidate state(s)"
                    )
    if as_json:
        doc: Any = results[0].to_json() if len(results) == 1 else [r.to_json() for r in results]
        print(json.dumps(doc, indent=2))
    order = ("valid", "incomplete", "invalid", "unreadable")  # the worst one decides
    worst = max(results, key=lambda r: order.index(r.verdict))
    return EXIT_CODES[worst.verdict]


def load_components(target: str) -> Any:
    """The refsched ``Components`` of a module whose ``parsync_adapter()`` is a RefSchedAdapter."""
    try:
        mod = importlib.import_module(target)
    except ImportError as e:
        raise CommandError(f"cannot import {target!r}: {e}") from None
    factory = getattr(mod, "parsync_adapter", None)
    if not callable(factory):
        raise CommandError(f"{target!r} has no parsync_adapter() factory")
    comps = getattr(factory(), "components", None)
    from parsync.refsched.cluster import Components

    if not isinstance(comps, Components):
        raise CommandError(
            f"{target!r} is not built on refsched: the recorder runs refsched's free mode "
            "(other schedulers write their own traces: docs/traces.md)"
        )
    return comps


def run_record(
    out: str, *, impl: str | None, seed: int, steps: int, timeout: float, quiet: bool
) -> int:
    try:
        from parsync.refsched import REFERENCE
        from parsync.refsched.recorder import record
    except ImportError as e:
        raise CommandError(f"the reference implementation is not installed ({e})") from None
    target = impl or REFERENCE
    comps = load_components(target)
    try:
        f = open(out, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    except OSError as e:
        raise CommandError(f"cannot write {out}: {e.strerror or e}") from None
    with f:
        rec = record(f, components=comps, seed=seed, steps=steps, timeout=timeout, source=target)
    if rec.errors:
        print(f"parsync: the scheduler's threads failed: {rec.errors[0]}", file=sys.stderr)
        return 1
    if not quiet:
        end = "the workload finished" if rec.finished else "cut at the step limit or the timeout"
        print(
            f"{out}: {rec.events:,} events from a free run of {target} (seed {seed}) in "
            f"{rec.seconds:.2f} s; {end}. Validate it: parsync trace {out}"
        )
    return 0


__all__ = ["CommandError", "load_components", "nonneg_int", "run_record", "run_trace"]
