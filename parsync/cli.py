"""The ``parsync`` command.

Exit codes (every subcommand): 0 the checked properties hold; 1 a property is
violated (or the scope is vacuous: an action never fires / a witness is never
reached); 2 bad usage or bad input (one line on stderr, never a traceback);
3 the search stopped on its budget before finishing (incomplete).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from parsync.argtypes import positive_float, positive_int

EXIT_OK = 0
EXIT_FAIL = 1
EXIT_USAGE = 2
EXIT_INCOMPLETE = 3


class UsageError(Exception):
    """Bad usage or bad input: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"parsync: error: {message}\n")


_positive_int = positive_int
_positive_float = positive_float


def _budget(text: str) -> tuple[str, float]:
    from parsync.gate import parse_budget

    try:
        return parse_budget(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="parsync",
        description="Formally-checked reference model of ParSync OCC scheduling (ADR-0031).",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    c = sub.add_parser("check", help="explore the model exhaustively (BFS) and check PS-1..PS-10")
    src = c.add_mutually_exclusive_group()
    src.add_argument(
        "--preset",
        metavar="NAME",
        help="named scope (default: small); with --liveness also a liveness scope "
        "(--liveness --list-presets)",
    )
    src.add_argument("--config", metavar="FILE.toml", help="scope from a TOML config file")
    c.add_argument("--variant", metavar="NAME", help="check a known-bad design variant")
    c.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    c.add_argument("--max-states", type=_positive_int, metavar="N", help="state budget")
    c.add_argument("--max-seconds", type=_positive_float, metavar="S", help="time budget")
    c.add_argument("--no-symmetry", action="store_true", help="switch symmetry reduction off")
    c.add_argument(
        "--trace-out", metavar="FILE", help="write the counterexample (JSON, replayable)"
    )
    c.add_argument(
        "--itf-out", metavar="FILE", help="write the counterexample as ITF (Apalache/Quint)"
    )
    prog = c.add_mutually_exclusive_group()
    prog.add_argument("--progress", dest="progress", action="store_true", default=None)
    prog.add_argument("--no-progress", dest="progress", action="store_false")
    c.add_argument("--list-variants", action="store_true", help="print variant names, one per line")
    c.add_argument("--list-presets", action="store_true", help="print presets with their scopes")
    c.add_argument(
        "--liveness",
        action="store_true",
        help="check PS-L1..PS-L3 under weak fairness instead (no cycle bound; docs/liveness.md)",
    )
    c.add_argument(
        "--steady",
        action="store_true",
        help="with --liveness: released needs arrive again (a workload that never drains)",
    )

    r = sub.add_parser("replay", help="re-execute a counterexample file and re-check it")
    r.add_argument("file", metavar="TRACE.json")
    r.add_argument("--json", action="store_true")

    mu = sub.add_parser(
        "mutants", help="print the --impl names of the reference scheduler's mutants"
    )
    mu.add_argument(
        "--reference", action="store_true", help="print the reference implementation's name"
    )
    mu.add_argument("--describe", action="store_true", help="add each mutant's mistake")

    b = sub.add_parser("bench", help="benchmark the explicit-state checker (states/s)")
    b.add_argument("--preset", metavar="NAME", default="pr")
    b.add_argument("--repeat", type=_positive_int, default=1)
    b.add_argument("--no-symmetry", action="store_true")
    b.add_argument("--json", action="store_true")

    mf = sub.add_parser(
        "manifest", help="each preset's exhaustive-check counts (spec/manifest.json)"
    )
    mode = mf.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="recompute and rewrite the manifest")
    mode.add_argument(
        "--check",
        action="store_true",
        help="recompute and compare with the manifest; exit 1 on any count/verdict difference",
    )
    mf.add_argument(
        "--preset",
        metavar="NAME",
        nargs="+",
        action="extend",
        help="only these presets (default: every preset; with --check, every recorded one)",
    )
    mf.add_argument(
        "--max-seconds",
        type=_positive_float,
        default=600.0,
        metavar="S",
        help="time budget per preset; a preset needing longer is recorded as omitted "
        "(default: 600)",
    )
    mf.add_argument("--file", metavar="FILE", help="manifest path (default: spec/manifest.json)")

    pv = sub.add_parser("prove", help="Z3: prove PS-1..PS-10 for every size (inductive invariants)")
    pv.add_argument(
        "--property",
        metavar="ID",
        action="append",
        help="only this property (repeatable or comma-separated; TypeOK always comes along)",
    )
    pv.add_argument("--variant", metavar="NAME", help="prove a known-bad variant (must fail)")
    pv.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    pv.add_argument(
        "--timeout",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="solver timeout per query; unknown is a failure (default: 30)",
    )
    pv.add_argument(
        "--report",
        metavar="FILE",
        help="write the proof report (docs/proofs.md) and its summary beside it (docs/proofs.json)",
    )

    bm = sub.add_parser("bmc", help="Z3: bounded model checking from Init, replayed in the model")
    bsrc = bm.add_mutually_exclusive_group()
    bsrc.add_argument("--preset", metavar="NAME", help="named scope (default: small)")
    bsrc.add_argument("--config", metavar="FILE.toml", help="scope from a TOML config file")
    bm.add_argument("--variant", metavar="NAME", help="check a known-bad design variant")
    bm.add_argument("--depth", type=_positive_int, default=8, metavar="K", help="steps (default 8)")
    bm.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    bm.add_argument("--timeout", type=_positive_float, metavar="S", help="solver timeout per query")

    sm = sub.add_parser(
        "simulate", help="long random runs at large sizes: ADR-0031's conflict-rate table"
    )
    sm.add_argument("--plan", choices=("default", "tiny"), default="default", help="which study")
    sm.add_argument("--seed", type=int, default=1, help="first random seed (default 1)")
    sm.add_argument(
        "--seeds",
        type=_positive_int,
        default=3,
        metavar="N",
        help="seeds per cell (SEED..SEED+N-1); figures are means with a 95%% Student t "
        "interval (default 3)",
    )
    sm.add_argument(
        "--max-seconds", type=_positive_float, metavar="S", help="stop cleanly; partial result"
    )
    sm.add_argument("--out", default="docs/simulation.md", metavar="FILE", help="Markdown report")
    sm.add_argument("--plot", metavar="FILE.png", help="plot (default: beside --out)")
    sm.add_argument("--no-plot", action="store_true", help="table only")
    sm.add_argument("--json", metavar="FILE", help="also write every run as JSON")
    sm.add_argument(
        "--from-json",
        metavar="FILE",
        help="render the report and plot again from a recorded --json file (no run)",
    )

    from parsync.argtypes import seed as _seed
    from parsync.traces.command import nonneg_int

    tr = sub.add_parser(
        "trace", help="validate JSONL event traces against the model (docs/traces.md)"
    )
    tr.add_argument("files", nargs="*", metavar="FILE", help="trace file(s)")
    tr.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    tr.add_argument(
        "--max-hidden",
        type=nonneg_int,
        default=4,
        metavar="N",
        help="unlogged steps searched before an event (default 4)",
    )
    tr.add_argument(
        "--max-candidates",
        type=_positive_int,
        default=10_000,
        metavar="N",
        help="consistent model states kept before giving up as undecidable (default 10000)",
    )
    tr.add_argument("--max-seconds", type=_positive_float, metavar="S", help="time budget")
    tr.add_argument("--schema", action="store_true", help="print the trace JSON Schema")

    rc = sub.add_parser(
        "record", help="record a trace from a free run of the reference scheduler (or a mutant)"
    )
    rc.add_argument("--out", required=True, metavar="FILE", help="where to write the trace")
    rc.add_argument("--impl", metavar="MODULE", help="refsched or one of its mutants")
    rc.add_argument(
        "--seed",
        type=_seed,
        default=0,
        metavar="N",
        help="fixes the workload (needs, strategy) and the sequences of random draws (network "
        "delays, drops, duplicates, release times, faults); NOT reproducible: real threads "
        "decide which step each draw meets and in what order steps happen, so two runs with "
        "one seed give different traces (default 0)",
    )
    rc.add_argument(
        "--steps", type=_positive_int, default=2000, metavar="N", help="events at most (2000)"
    )
    rc.add_argument(
        "--timeout", type=_positive_float, default=20.0, metavar="S", help="seconds at most (20)"
    )

    ct = sub.add_parser(
        "cite", help="docs/adr-citations.md: each ADR-0031 claim, its check and verdict"
    )
    ctm = ct.add_mutually_exclusive_group()
    ctm.add_argument("--write", metavar="FILE", nargs="?", const="docs/adr-citations.md")
    ctm.add_argument("--check", metavar="FILE", nargs="?", const="docs/adr-citations.md")

    g = sub.add_parser(
        "gate", help="pre-merge safety gate: check, proofs, conformance, traces; one verdict"
    )
    g.add_argument(
        "--preset", default="pr", metavar="NAME", help="profile and scope: pr (default), nightly"
    )
    g.add_argument("--impl", metavar="MODULE[:FACTORY]", help="run the conformance suite on it")
    g.add_argument(
        "--trace", metavar="GLOB", action="append", default=[], help="validate trace files"
    )
    g.add_argument("--variant", metavar="NAME", help="gate a known-bad design variant (must fail)")
    g.add_argument("--skip", metavar="STAGE", action="append", default=[], help="leave a stage out")
    g.add_argument(
        "--recheck",
        action="store_true",
        help="run check, liveness and prove even when the installed model's recorded results "
        "match its hashes (by default those stages report the record, not a re-run)",
    )
    g.add_argument(
        "--budget",
        metavar="STAGE=S",
        action="append",
        default=[],
        type=_budget,
        help="override a stage's time budget in seconds (repeatable)",
    )
    g.add_argument("--junit", metavar="FILE", help="write JUnit XML (one test case per property)")
    g.add_argument("--json", metavar="FILE", help="write the full result as JSON")
    g.add_argument("--markdown", metavar="FILE", help="write a pull-request comment (Markdown)")
    g.add_argument(
        "--replay-dir",
        default=".parsync/replays",
        metavar="DIR",
        help="where conformance failures are saved (default .parsync/replays)",
    )
    gprog = g.add_mutually_exclusive_group()
    gprog.add_argument("--progress", dest="progress", action="store_true", default=None)
    gprog.add_argument("--no-progress", dest="progress", action="store_false")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        if args.command == "check":
            return _cmd_check(args)
        if args.command == "replay":
            return _cmd_replay(args)
        if args.command == "bench":
            return _cmd_bench(args)
        if args.command == "mutants":
            return _cmd_mutants(args)
        if args.command == "manifest":
            return _cmd_manifest(args)
        if args.command == "prove":
            return _cmd_prove(args)
        if args.command == "bmc":
            return _cmd_bmc(args)
        if args.command == "gate":
            return _cmd_gate(args)
        if args.command == "cite":
            return _cmd_cite(args)
        if args.command in ("trace", "record"):
            return _cmd_traces(args)
        if args.command == "simulate":
            from parsync.engines.simulate_study import command as simulate_command

            try:
                return simulate_command(args)
            except ValueError as e:  # SimulationError, or an output path it cannot write
                raise UsageError(str(e)) from None
    except UsageError as e:
        print(f"parsync: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `parsync check --list-variants | head -1`
        return EXIT_OK
    parser.error(f"unknown command {args.command!r}")


# --- helpers ---------------------------------------------------------------------


def _load_scope(preset: str | None, config: str | None) -> tuple[str, Any]:
    from parsync.model.config import ConfigError, load_config
    from parsync.model.presets import DEFAULT_PRESET, get_preset

    if config is not None:
        try:
            return Path(config).name, load_config(config)
        except ConfigError as e:
            raise UsageError(str(e)) from None
    name = preset or DEFAULT_PRESET
    try:
        return name, get_preset(name).config
    except KeyError as e:
        raise UsageError(e.args[0]) from None


def _model(cfg: Any, variant: str | None) -> Any:
    from parsync.model.protocol import ParSyncModel

    try:
        return ParSyncModel(cfg, variant)
    except KeyError as e:
        raise UsageError(e.args[0]) from None


def _write_json(path: str, data: Any) -> None:
    try:
        Path(path).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def counterexample_document(model: Any, scope: str, result: Any) -> dict[str, Any]:
    """The replayable counterexample file: config, variant, property, actions."""
    from parsync.model.properties import get_property

    v = result.violation
    return {
        "format": "parsync-counterexample/1",
        "scope": scope,
        "config": model.config.to_dict(),
        "variant": model.variant,
        "property": v.property_id,
        "property_name": get_property(v.property_id).name,
        "properties": v.property_ids,
        **v.trace.to_json(),
    }


# --- check -------------------------------------------------------------------------


def _cmd_check(args: argparse.Namespace) -> int:
    from parsync.model.presets import PRESETS
    from parsync.model.variants import VARIANTS

    if args.liveness or args.steady:  # its own scopes (--preset NAME) and variants
        from parsync.engines.liveness import run_command

        return run_command(args, _load_scope, UsageError)
    if args.list_variants:
        for v in VARIANTS:
            print(v.name)
        return EXIT_OK
    if args.list_presets:
        for p in PRESETS.values():
            print(f"{p.name}: {p.summary}\n    {p.config.describe()}")
        return EXIT_OK

    from rich.console import Console

    from parsync.engines.checker import INCOMPLETE, PASS, VIOLATION, Checker, Progress

    scope, cfg = _load_scope(args.preset, args.config)
    model = _model(cfg, args.variant)
    err = Console(stderr=True, highlight=False)
    show_progress = args.progress if args.progress is not None else err.is_terminal

    def run(cb: Any) -> Any:
        return Checker(
            model,
            symmetry=not args.no_symmetry,
            max_states=args.max_states,
            max_seconds=args.max_seconds,
            progress=cb,
        ).run()

    if show_progress:
        from rich.progress import Progress as Bar
        from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

        with Bar(
            SpinnerColumn(),
            TextColumn("[bold]parsync check[/bold] {task.description}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        ) as bar:
            task = bar.add_task("starting")

            def cb(p: Progress) -> None:
                rate = p.states / p.seconds if p.seconds else 0.0
                bar.update(
                    task,
                    description=(
                        f"{p.states:,} states, depth {p.depth}, queue {p.queue:,}, "
                        f"{rate:,.0f} states/s"
                    ),
                )

            result = run(cb)
    else:
        result = run(None)

    if result.violation is not None:
        doc = counterexample_document(model, scope, result)
        if args.trace_out:
            _write_json(args.trace_out, doc)
        if args.itf_out:
            _write_json(
                args.itf_out,
                result.violation.trace.to_itf(
                    {"property": result.violation.property_id, "variant": model.variant}
                ),
            )

    if args.json:
        d = result.to_json()
        d["scope"] = scope
        print(json.dumps(d, indent=2))
    else:
        _print_result(scope, model, result)

    if result.verdict == PASS:
        return EXIT_OK
    if result.verdict == INCOMPLETE:
        return EXIT_INCOMPLETE
    assert result.verdict in (VIOLATION, "vacuous")
    return EXIT_FAIL


def _print_result(scope: str, model: Any, result: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from parsync.model.properties import PROPERTIES, WITNESSES, get_property

    out = Console(highlight=False)
    title = f"parsync check {scope}" + (f" --variant {model.variant}" if model.variant else "")
    out.print(f"[bold]{title}[/bold]: {model.config.describe()}")
    colour = {"pass": "green", "violation": "red", "incomplete": "yellow", "vacuous": "red"}[
        result.verdict
    ]
    out.print(
        f"[bold {colour}]{result.verdict.upper()}[/bold {colour}]  "
        f"{result.states:,} distinct states, {result.transitions:,} transitions, "
        f"depth {result.depth}, {result.seconds:.2f}s "
        f"({result.states_per_second:,.0f} states/s, symmetry group {result.symmetry})"
    )
    if result.stop_reason:
        out.print(f"[yellow]stopped: {result.stop_reason}; the result is incomplete[/yellow]")
    t = Table(title="properties", show_edge=False)
    t.add_column("ID")
    t.add_column("name")
    t.add_column("kind")
    t.add_column("result")
    broken = set(result.violation.property_ids) if result.violation else set()
    for p in PROPERTIES:
        if p.id in broken:
            res = "[red]VIOLATED[/red]"
        elif result.verdict in ("pass", "vacuous"):
            res = "[green]holds[/green]"
        else:
            res = "[yellow]not violated so far[/yellow]"
        t.add_row(p.id, p.name, p.kind, res)
    for w in WITNESSES:
        v = result.witnesses.get(w.id)
        if v is None:
            res = "n/a"
        elif v:
            res = "[green]reached[/green]"
        elif result.verdict == "vacuous":
            res = "[red]NOT REACHED[/red]"
        else:  # the search stopped early (violation): unreached proves nothing
            res = "[yellow]not reached so far[/yellow]"
        t.add_row(w.id, w.name, "sometimes", res)
    out.print(t)
    cov = ", ".join(f"{a}={n:,}" for a, n in result.coverage.items())
    out.print(f"coverage (transitions per action): {cov}")
    if result.unfired:
        out.print(
            "[red]vacuous scope: applicable action(s) never fired: "
            f"{', '.join(result.unfired)}[/red]"
        )
    if result.missing_witnesses and result.verdict == "vacuous":
        out.print(
            "[red]vacuous scope: witness(es) never reached: "
            + ", ".join(result.missing_witnesses)
            + "[/red]"
        )
    if result.violation is not None:
        v = result.violation
        names = ", ".join(f"{i} {get_property(i).name}" for i in v.property_ids)
        out.print(
            f"\n[bold red]{names} violated[/bold red] after {len(v.trace.actions)} steps "
            "(a shortest counterexample):"
        )
        out.print(v.trace.render(markup=True))


# --- replay ------------------------------------------------------------------------


def _cmd_replay(args: argparse.Namespace) -> int:
    from parsync.counterexample import ReplayError, actions_from_json, replay
    from parsync.model.config import ConfigError, config_from_dict
    from parsync.model.properties import action_violations, state_violations

    try:
        doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read {args.file}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{args.file}: not valid JSON: {e}") from None
    if not isinstance(doc, dict) or "config" not in doc or "actions" not in doc:
        raise UsageError(
            f"{args.file}: not a parsync counterexample (needs 'config' and 'actions')"
        )
    try:
        cfg = config_from_dict(doc["config"])
        actions = actions_from_json(doc["actions"])
    except (ConfigError, ValueError, TypeError) as e:
        raise UsageError(f"{args.file}: {e}") from None
    variant = doc.get("variant")
    if variant is not None and not isinstance(variant, str):
        raise UsageError(f"{args.file}: variant must be a variant name or null, got {variant!r}")
    try:
        model = _model(cfg, variant)
    except UsageError as e:
        raise UsageError(f"{args.file}: {e}") from None
    try:
        tr = replay(model, actions)
    except ReplayError as e:
        raise UsageError(f"{args.file}: {e}") from None
    found: list[str] = []
    s = tr.init
    found += state_violations(model, s)
    for a, s0, t in tr.steps():
        found += action_violations(model, s0, a, t)
        found += state_violations(model, t)
    found = sorted(set(found), key=lambda x: int(x.split("-")[1]))
    notes = _replay_drift(doc, tr, found)
    for note in notes:
        print(f"parsync: note: {args.file}: {note}", file=sys.stderr)
    if args.json:
        print(
            json.dumps(
                {"file": args.file, "steps": len(actions), "violations": found, "notes": notes}
            )
        )
    elif found:
        print(f"replayed {len(actions)} steps: violates {', '.join(found)}")
        print(tr.render())
    else:
        print(f"replayed {len(actions)} steps: no property violated")
    return EXIT_FAIL if found else EXIT_OK


def _replay_drift(doc: dict[str, Any], tr: Any, found: list[str]) -> list[str]:
    """What differs between the recorded counterexample and its replay today."""
    from parsync.counterexample import state_to_json

    notes = []
    recorded = doc.get("states")
    if isinstance(recorded, list):
        now = [state_to_json(x) for x in (tr.init, *tr.states)]
        first = next(
            (i for i, (a, b) in enumerate(zip(recorded, now, strict=False)) if a != b), None
        )
        if first is not None or len(recorded) != len(now):
            at = first if first is not None else min(len(recorded), len(now))
            notes.append(
                f"the replayed states differ from the recorded ones from step {at} on "
                "(the model, config or variant changed since it was recorded)"
            )
    prop = doc.get("property")
    if isinstance(prop, str) and prop not in found:
        notes.append(f"the recorded violation of {prop} no longer reproduces")
    return notes


# --- mutants ------------------------------------------------------------------------


def _cmd_mutants(args: argparse.Namespace) -> int:
    try:
        from parsync.refsched import REFERENCE
        from parsync.refsched.mutants import MUTANTS
    except ImportError as e:
        raise UsageError(f"the reference implementation is not installed ({e})") from None
    if args.reference:
        print(REFERENCE)
        return EXIT_OK
    for module, description, expected in MUTANTS:
        print(f"{module}\t{expected}\t{description}" if args.describe else module)
    return EXIT_OK


# --- bench -------------------------------------------------------------------------


def _cmd_bench(args: argparse.Namespace) -> int:
    from parsync.bench import bench

    scope, cfg = _load_scope(args.preset, None)
    rows = bench(cfg, repeat=args.repeat, symmetry=not args.no_symmetry)
    if args.json:
        print(json.dumps({"preset": scope, "runs": rows}, indent=2))
    else:
        for r in rows:
            print(
                f"{scope}: {r['states']:,} distinct states in {r['seconds']:.2f}s = "
                f"{r['states_per_second']:,.0f} states/s ({r['transitions']:,} transitions, "
                f"depth {r['depth']}, verdict {r['verdict']})"
            )
    return EXIT_OK


# --- manifest ----------------------------------------------------------------------


def _cmd_manifest(args: argparse.Namespace) -> int:
    from parsync import manifest as mf
    from parsync.model.presets import PRESETS

    path = Path(args.file) if args.file else mf.DEFAULT_PATH
    names = list(dict.fromkeys(args.preset or []))
    for n in names:
        if n not in PRESETS:
            raise UsageError(f"unknown preset {n!r}; known presets: {', '.join(PRESETS)}")
    committed: dict[str, Any] | None = None
    try:
        committed = mf.load(path)
    except FileNotFoundError:
        if args.check:
            raise UsageError(f"no manifest at {path}; create it with `{mf.REGENERATE}`") from None
    except (OSError, ValueError) as e:
        if args.check:
            raise UsageError(f"cannot read manifest {path}: {e}") from None
    old = committed.get("presets", {}) if committed else {}
    if not names:
        # A preset the manifest records as omitted (it did not finish within the
        # budget) is tried again only when named with --preset.
        names = [n for n in PRESETS if "omitted" not in old.get(n, {})]
        for n in PRESETS:
            if n not in names:
                print(f"{n}: omitted in the manifest, not re-run (name it with --preset to retry)")

    def show(name: str, e: dict[str, Any]) -> None:
        if "omitted" in e:
            print(f"{name}: omitted: {e['omitted']}")
        else:
            print(
                f"{name}: {e['verdict']}, {e['states']:,} distinct states, "
                f"{e['transitions']:,} transitions, depth {e['depth']}, "
                f"symmetry group {e['symmetry_group']} ({e['seconds']:.1f}s)"
            )
        sys.stdout.flush()

    print(f"parsync manifest: checking {', '.join(names)} ...", file=sys.stderr, flush=True)
    try:
        fresh = mf.build(names, max_seconds=args.max_seconds, on_preset=show)
    except mf.SourcesChanged as e:
        raise UsageError(str(e)) from None
    entries: dict[str, Any] = fresh["presets"]
    failed = [n for n, e in entries.items() if e.get("verdict", "pass") != "pass"]

    if args.check:
        assert committed is not None
        diffs = mf.compare_hash(committed)
        for n in names:
            diffs += mf.compare_entry(n, committed.get("presets", {}).get(n), entries[n])
        for n in names:
            if "omitted" in old.get(n, {}):
                print(f"{n}: recorded as omitted in the manifest; nothing to compare")
        if diffs:
            print(f"\n{path} differs from the recomputed results:")
            for line in diffs:
                print(f"  {line}")
            print(f"regenerate it with `{mf.REGENERATE}` once the change is intended")
            return EXIT_FAIL
        print(f"{path}: counts and verdicts match for {', '.join(names)} ({fresh['spec_hash']})")
        return EXIT_OK

    if args.write:
        doc = mf.merge(committed, fresh)
        before = set(committed.get("presets", {})) if committed else set()
        dropped = sorted(before - set(doc["presets"]))
        try:
            mf.dump(doc, path)
        except OSError as e:
            raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
        print(f"wrote {path} ({', '.join(doc['presets'])}; {doc['spec_hash']})")
        if dropped:
            print(f"dropped (computed from other sources): {', '.join(dropped)}")
        return EXIT_FAIL if failed else EXIT_OK

    if failed:
        return EXIT_FAIL
    if any("omitted" in e for e in entries.values()):
        return EXIT_INCOMPLETE
    return EXIT_OK


# --- prove / bmc (Z3) -----------------------------------------------------------------


def _cmd_prove(args: argparse.Namespace) -> int:
    from parsync.proofs.command import BadUsage, run_prove

    try:
        return run_prove(
            args.property,
            args.variant,
            as_json=args.json,
            timeout_s=args.timeout,
            report=args.report,
        )
    except BadUsage as e:
        raise UsageError(str(e)) from None


def _cmd_bmc(args: argparse.Namespace) -> int:
    from parsync.proofs.command import BadUsage, run_bmc

    scope, cfg = _load_scope(args.preset, args.config)
    try:
        return run_bmc(
            args.preset,
            cfg,
            scope,
            args.variant,
            depth=args.depth,
            as_json=args.json,
            timeout_s=args.timeout,
        )
    except BadUsage as e:
        raise UsageError(str(e)) from None


# --- cite --------------------------------------------------------------------------


def _cmd_cite(args: argparse.Namespace) -> int:
    """Print the citations (default), write them, or check the committed file is current."""
    from parsync.citations import REGENERATE, CitationError, load, render

    try:
        text = render(load())
    except CitationError as e:
        raise UsageError(str(e)) from None
    if args.write:
        try:
            Path(args.write).write_text(text, encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot write {args.write}: {e.strerror or e}") from None
        print(f"wrote {args.write}")
        return EXIT_OK
    if args.check:
        try:
            current = Path(args.check).read_text(encoding="utf-8")
        except OSError as e:
            raise UsageError(f"cannot read {args.check}: {e.strerror or e}") from None
        if current == text:
            print(f"{args.check} is current")
            return EXIT_OK
        print(f"{args.check} is stale against the records; regenerate with `{REGENERATE}`")
        return EXIT_FAIL
    sys.stdout.write(text)
    return EXIT_OK


# --- gate --------------------------------------------------------------------------


def _cmd_gate(args: argparse.Namespace) -> int:
    from rich.console import Console

    from parsync.gate import (
        GateOptions,
        GateUsageError,
        console_progress,
        print_summary,
        run_gate,
        write_reports,
    )

    opts = GateOptions(
        preset=args.preset,
        impl=args.impl,
        traces=args.trace,
        variant=args.variant,
        skip=tuple(args.skip),
        budgets=dict(args.budget),
        replay_dir=args.replay_dir,
        recheck=args.recheck,
    )
    reports = [p for p in (args.junit, args.json, args.markdown) if p]
    show = args.progress if args.progress is not None else Console(stderr=True).is_terminal
    try:
        with console_progress(show) as (on_stage, tick):
            result = run_gate(opts, report_paths=reports, on_stage=on_stage, tick=tick)
        write_reports(result, args.junit, args.json, args.markdown)
    except GateUsageError as e:
        raise UsageError(str(e)) from None
    print_summary(result)
    return EXIT_OK if result.ok else EXIT_FAIL


def _cmd_traces(args: argparse.Namespace) -> int:
    """``parsync trace`` / ``parsync record``: the bodies live in parsync/traces/command.py."""
    from parsync.traces.command import CommandError, run_record, run_trace

    try:
        if args.command == "trace":
            return run_trace(
                args.files,
                as_json=args.json,
                max_hidden=args.max_hidden,
                max_candidates=args.max_candidates,
                max_seconds=args.max_seconds,
                show_schema=args.schema,
            )
        return run_record(
            args.out,
            impl=args.impl,
            seed=args.seed,
            steps=args.steps,
            timeout=args.timeout,
            quiet=False,
        )
    except CommandError as e:
        raise UsageError(str(e)) from None


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
