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
import sys
from typing import Any

from parsync.errors import Interrupted, UsageError
from parsync.outputs import emit_json
from parsync.progress import Display
from parsync.traces.format import SCHEMA_FILE
from parsync.traces.validate import EXIT_CODES, TraceResult, validate_path


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


class CommandError(UsageError):
    """Bad usage: one line, exit 2 (the CLI turns it into its UsageError)."""


def run_trace(
    files: list[str],
    *,
    as_json: bool,
    max_hidden: int,
    max_candidates: int,
    max_seconds: float | None,
    show_schema: bool,
    json_out: str | None = None,
    progress: bool = True,
) -> int:
    if show_schema:
        sys.stdout.write(SCHEMA_FILE.read_text(encoding="utf-8"))
        return 0
    if not files:
        raise CommandError("give at least one trace FILE (or --schema)")
    results: list[TraceResult] = []
    for f in files:
        with Display(f"parsync trace {f}", enabled=progress) as bar:

            def tick(events: int, done: int, total: int | None) -> None:
                pct = f"{100 * done / total:.0f}% of {total:,} bytes" if total else ""
                bar.count(events, None, "events", pct)

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
        if r.interrupted:
            break
    if as_json or json_out:
        doc: Any = results[0].to_json() if len(results) == 1 else [r.to_json() for r in results]
        emit_json(doc, stdout=as_json, path=json_out)
    last = results[-1]
    if last.interrupted:
        raise Interrupted(
            f"trace: {len(results) - 1} of {len(files)} file(s) validated; "
            f"{last.path}: {last.message}; the result is incomplete"
        )
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
    out: str,
    *,
    impl: str | None,
    seed: int,
    steps: int,
    timeout: float,
    quiet: bool,
    progress: bool = True,
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
    seen = [0]

    def tick(n: int) -> None:
        seen[0] = n
        bar.count(n, steps, "events")

    with f, Display(f"parsync record {out}", enabled=progress) as bar:
        try:
            rec = record(
                f,
                components=comps,
                seed=seed,
                steps=steps,
                timeout=timeout,
                source=target,
                progress=tick,
            )
        except KeyboardInterrupt:
            f.flush()
            raise Interrupted(
                f"record: {out} holds the header and about {seen[0]:,} events recorded "
                f"before the interrupt (the scheduler was stopped; check it: parsync trace {out})"
            ) from None
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
