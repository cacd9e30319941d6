"""The ``parsync`` command.

Exit codes (every subcommand): 0 the checked properties hold; 1 a property is
violated (or the scope is vacuous: an action never fires / a witness is never
reached); 2 bad usage or bad input (one line on stderr, never a traceback);
3 stopped: a budget ran out or Ctrl-C interrupted it (the partial result is
printed, and ``parsync: interrupted: ...`` ends stderr after a Ctrl-C).

Conventions shared by every command: ``--json`` prints the JSON result on
stdout (the human-readable text then goes to stderr or is left out);
``--json-out FILE`` writes the same JSON to FILE. Every output path is checked
(:func:`parsync.outputs.check_output_path`) before any work starts. Progress is
shown on stderr (:mod:`parsync.progress`) unless ``--no-progress``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from parsync.argtypes import positive_float, positive_int
from parsync.argtypes import workers as _workers
from parsync.errors import EXIT_FAIL, EXIT_OK, EXIT_STOPPED, EXIT_USAGE, Interrupted, UsageError
from parsync.outputs import STDOUT, check_output_paths

EXIT_INCOMPLETE = EXIT_STOPPED  # the older name: a budget or Ctrl-C stopped it
DEFAULT_FRONTIER_MB = 256  # parsync.engines.parallel.DEFAULT_FRONTIER_MEMORY, in megabytes

EPILOG = """\
exit codes (every command):
  0  pass: the checked properties hold (gate: safe to merge)
  1  fail: a property is violated or the scope is vacuous (gate: unsafe)
  2  usage or set-up error: one line on stderr, never a traceback
  3  stopped: a budget ran out or Ctrl-C interrupted it; the partial result is
     printed and is never reported as a pass

conventions: --json prints the JSON result on stdout; --json-out FILE writes it
to FILE. Every output path is checked before work starts. Progress goes to
stderr: a bar on a terminal, else a line every PARSYNC_PROGRESS_INTERVAL
seconds (default 10); --no-progress switches it off.
"""

__all__ = ["EXIT_FAIL", "EXIT_INCOMPLETE", "EXIT_OK", "EXIT_STOPPED", "EXIT_USAGE", "UsageError"]


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


def version_text() -> str:
    """``parsync-spec X.Y.Z (Python A.B.C, Z3 D.E.F)``: what ``parsync --version`` prints."""
    import platform
    from importlib import metadata

    from parsync import __version__

    try:
        z3v = metadata.version("z3-solver")
    except metadata.PackageNotFoundError:  # pragma: no cover - z3 is a dependency
        z3v = "not installed"
    return f"parsync-spec {__version__} (Python {platform.python_version()}, Z3 {z3v})"


def _json_options(p: argparse.ArgumentParser, *, file_alias: bool = False) -> None:
    """``--json`` (the result as JSON on stdout) and ``--json-out FILE`` (the same, to a
    file). ``file_alias``: the command used to spell the file ``--json FILE``, still
    accepted (it has no positional argument the optional value could swallow)."""
    if file_alias:
        p.add_argument(
            "--json",
            nargs="?",
            const=STDOUT,
            metavar="FILE",
            help="print the result as JSON on stdout (--json FILE: the old spelling "
            "of --json-out FILE)",
        )
    else:
        p.add_argument(
            "--json",
            action="store_const",
            const=STDOUT,
            help="print the result as JSON on stdout",
        )
    p.add_argument("--json-out", metavar="FILE", help="write the result as JSON to FILE")


def _progress_options(p: argparse.ArgumentParser) -> None:
    grp = p.add_mutually_exclusive_group()
    grp.add_argument(
        "--progress",
        dest="progress",
        action="store_true",
        default=None,
        help="show progress on stderr (the default): a bar on a terminal, else a line "
        "every PARSYNC_PROGRESS_INTERVAL seconds (10)",
    )
    grp.add_argument("--no-progress", dest="progress", action="store_false")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="parsync",
        description="Formally-checked reference model of ParSync OCC scheduling (ADR-0031).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=version_text())
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
    c.add_argument(
        "--policy",
        choices=("contract", "reference"),
        default=None,
        help="contract (default): every behaviour ADR-0031 allows, so a pass covers every "
        "scheduling policy; reference: one implementation's heuristics (docs/contract.md). "
        "A preset too large under the contract names a smaller contract scope "
        "(--list-presets). With --liveness the default is reference (docs/liveness.md)",
    )
    _json_options(c)
    c.add_argument("--max-states", type=_positive_int, metavar="N", help="state budget")
    c.add_argument("--max-seconds", type=_positive_float, metavar="S", help="time budget")
    c.add_argument("--no-symmetry", action="store_true", help="switch symmetry reduction off")
    c.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="N|auto",
        help="search with N processes, the state space partitioned by 64-bit fingerprint "
        "(auto: one per core); same counts, verdict and counterexample as one process "
        "(docs/scale.md). Default: the single-process search",
    )
    c.add_argument(
        "--ray",
        metavar="ADDRESS|auto",
        help="the same partitioned search with its shards as Ray actors (extra "
        "parsync-spec[ray]): auto starts a local Ray, HOST:PORT joins a running cluster; "
        "--workers N actors (default: one per CPU of the cluster; docs/scale.md)",
    )
    c.add_argument(
        "--checkpoint",
        metavar="DIR",
        help="with the multi-process search (--workers, else 1 worker): write the seen sets, "
        "frontier and counts to DIR every --checkpoint-every seconds and when a budget or "
        "Ctrl-C stops the run (docs/scale.md)",
    )
    c.add_argument(
        "--resume",
        metavar="DIR",
        help="continue the run checkpointed in DIR (any --workers) to the counts of an "
        "uninterrupted run; it goes on checkpointing to DIR unless --checkpoint names another",
    )
    c.add_argument(
        "--checkpoint-every",
        type=_positive_float,
        default=60.0,
        metavar="S",
        help="seconds between checkpoints (default 60)",
    )
    c.add_argument(
        "--frontier-memory",
        type=_positive_float,
        default=None,
        metavar="MB",
        help="with the multi-process search: each shard keeps at most MB megabytes of a "
        "level's encoded states in memory and spills the rest to --spill-dir "
        f"(default {DEFAULT_FRONTIER_MB}; docs/scale.md)",
    )
    c.add_argument(
        "--spill-dir",
        metavar="DIR",
        help="with the multi-process search: where frontier spill files and the "
        "counterexample trail go (a new directory in DIR, removed at the end, also after "
        "Ctrl-C; default: the system's temporary directory)",
    )
    c.add_argument(
        "--trace-out", metavar="FILE", help="write the counterexample (JSON, replayable)"
    )
    c.add_argument(
        "--itf-out", metavar="FILE", help="write the counterexample as ITF (Apalache/Quint)"
    )
    _progress_options(c)
    c.add_argument("--list-variants", action="store_true", help="print variant names, one per line")
    c.add_argument("--list-presets", action="store_true", help="print presets with their scopes")
    c.add_argument(
        "--liveness",
        action="store_true",
        help="check PS-L1..PS-L3 under fairness instead (no cycle bound; docs/liveness.md)",
    )
    c.add_argument(
        "--steady",
        action="store_true",
        help="with --liveness: released needs arrive again (a workload that never drains)",
    )
    c.add_argument(
        "--fairness",
        choices=("strong-broker", "weak"),
        default=None,
        help="with --liveness: strong-broker (default: the broker's step on each proposal "
        "strongly fair, the other protocol steps weakly fair) or weak (every step weakly fair)",
    )
    _diagram_options(c)

    r = sub.add_parser(
        "replay", help="re-execute a counterexample file (its JSON or ITF) and re-check it"
    )
    r.add_argument("file", metavar="TRACE.json")
    _json_options(r)
    _diagram_options(r)

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
    _json_options(b)
    _progress_options(b)

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
    mf.add_argument(
        "--tlc-only",
        action="store_true",
        help="with --write: run only TLC on the TLA+ models and rewrite only the manifest's "
        "tlc section (the presets' records are kept as they are)",
    )
    mf.add_argument("--file", metavar="FILE", help="manifest path (default: spec/manifest.json)")
    _json_options(mf)
    _progress_options(mf)

    pv = sub.add_parser("prove", help="Z3: prove PS-1..PS-10 for every size (inductive invariants)")
    pv.add_argument(
        "--property",
        metavar="ID",
        action="append",
        help="only this property (repeatable or comma-separated; TypeOK always comes along)",
    )
    pv.add_argument("--variant", metavar="NAME", help="prove a known-bad variant (must fail)")
    pv.add_argument(
        "--policy",
        choices=("contract", "reference"),
        default=None,
        help="contract (default): every behaviour ADR-0031 allows, so a proof covers every "
        "scheduling policy; reference: the reference heuristics. --report writes both "
        "(docs/proofs.md) and takes no --policy",
    )
    _json_options(pv)
    _progress_options(pv)
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
    pv.add_argument(
        "--classify",
        action="store_true",
        help="also say how each obligation holds: by construction (the action and TypeOK "
        "alone), inductive, or needing the lemmas (extra queries; --report always does)",
    )

    bm = sub.add_parser("bmc", help="Z3: bounded model checking from Init, replayed in the model")
    bsrc = bm.add_mutually_exclusive_group()
    bsrc.add_argument("--preset", metavar="NAME", help="named scope (default: small)")
    bsrc.add_argument("--config", metavar="FILE.toml", help="scope from a TOML config file")
    bm.add_argument("--variant", metavar="NAME", help="check a known-bad design variant")
    bm.add_argument(
        "--policy",
        choices=("contract", "reference"),
        default="contract",
        help="contract (default): every behaviour ADR-0031 allows, so a result covers every "
        "scheduling policy; reference: the reference heuristics (docs/contract.md)",
    )
    bm.add_argument("--depth", type=_positive_int, default=8, metavar="K", help="steps (default 8)")
    bm.add_argument(
        "--compare-bfs",
        action="store_true",
        help="also run the explicit-state BFS to the same depth and print both verdicts; "
        "exit 1 (and 'BMC and BFS disagree: ...') when they differ",
    )
    _json_options(bm)
    _progress_options(bm)
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
    sm.add_argument(
        "--out",
        metavar="FILE",
        help=f"Markdown report (default: {SIMULATE_DEFAULT_OUT}, a new folder under the "
        "current directory; the committed docs: --out docs/simulation.md)",
    )
    sm.add_argument("--plot", metavar="FILE.png", help="plot (default: beside --out)")
    sm.add_argument("--no-plot", action="store_true", help="table only")
    _json_options(sm, file_alias=True)
    _progress_options(sm)
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
    _json_options(tr)
    _progress_options(tr)
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
    _progress_options(rc)

    ct = sub.add_parser(
        "cite", help="docs/adr-citations.md: each ADR-0031 claim, its check and verdict"
    )
    ctm = ct.add_mutually_exclusive_group()
    ctm.add_argument("--write", metavar="FILE", nargs="?", const="docs/adr-citations.md")
    ctm.add_argument("--check", metavar="FILE", nargs="?", const="docs/adr-citations.md")
    _json_options(ct)

    g = sub.add_parser(
        "gate", help="pre-merge safety gate: check, proofs, conformance, traces; one verdict"
    )
    g.add_argument(
        "--preset", default="pr", metavar="NAME", help="profile and scope: pr (default), nightly"
    )
    g.add_argument("--impl", metavar="MODULE[:FACTORY]", help="run the conformance suite on it")
    g.add_argument(
        "--policy",
        choices=("contract", "reference"),
        default="contract",
        help="the model the check and prove stages run, and what the conformance stage "
        "accepts: every choice ADR-0031 leaves open (contract, default; pr's contract "
        "scope: --list-presets) or the reference's heuristics; liveness is about the "
        "reference's heuristics under either",
    )
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
    _json_options(g, file_alias=True)
    g.add_argument("--markdown", metavar="FILE", help="write a pull-request comment (Markdown)")
    g.add_argument(
        "--replay-dir",
        default=".parsync/replays",
        metavar="DIR",
        help="where conformance failures are saved (default .parsync/replays)",
    )
    _progress_options(g)
    return p


def _diagram_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--mermaid-out",
        metavar="FILE",
        help="write the counterexample's sequence diagram (Mermaid)",
    )
    p.add_argument("--svg-out", metavar="FILE", help="write the sequence diagram as SVG")
    p.add_argument(
        "--html-out",
        metavar="FILE",
        help="write an offline HTML page: the SVG diagram, the steps, the Mermaid source",
    )


def _write_diagrams(args: argparse.Namespace, trace: Any, model: Any, ids: list[str]) -> None:
    from parsync.diagram import write_files

    title = "parsync counterexample" + (f" --variant {model.variant}" if model.variant else "")
    if ids:
        title += ": " + ", ".join(ids)
    try:
        write_files(
            trace,
            model,
            ids,
            title,
            mermaid_out=args.mermaid_out,
            svg_out=args.svg_out,
            html_out=args.html_out,
        )
    except OSError as e:
        raise UsageError(str(e)) from None


SIMULATE_DEFAULT_OUT = "parsync-simulation/simulation.md"


def output_paths(args: argparse.Namespace) -> list[tuple[str | None, str]]:
    """Every file this invocation may write, with the option that names it: checked
    (:func:`parsync.outputs.check_output_path`) before any work starts."""
    json_flag = getattr(args, "json_out_flag", "--json-out")  # as typed: --json FILE too
    out: list[tuple[str | None, str]] = [(getattr(args, "json_out", None), json_flag)]
    cmd = args.command
    for opt in ("mermaid_out", "svg_out", "html_out"):  # check, replay: the diagrams
        out.append((getattr(args, opt, None), "--" + opt.replace("_", "-")))
    if cmd == "check":
        out += [(args.trace_out, "--trace-out"), (args.itf_out, "--itf-out")]
    elif cmd == "manifest" and args.write:
        from parsync.manifest import DEFAULT_PATH

        out.append((args.file or str(DEFAULT_PATH), "--file"))
    elif cmd == "prove":
        out.append((args.report, "--report"))
    elif cmd == "simulate":
        out.append((args.out, "--out"))
        if not args.no_plot:
            out.append((args.plot or str(Path(args.out).with_suffix(".png")), "--plot"))
    elif cmd == "record":
        out.append((args.out, "--out"))
    elif cmd == "cite":
        out.append((args.write, "--write"))
    elif cmd == "gate":
        out += [(args.junit, "--junit"), (args.markdown, "--markdown")]
    return out


def _normalise(args: argparse.Namespace) -> None:
    """One meaning of --json everywhere: ``--json FILE`` (gate, simulate: the old
    spelling) becomes ``--json-out FILE``; ``args.json`` is then None or ``-``."""
    js = getattr(args, "json", None)
    if js is not None and js != STDOUT:
        if args.json_out is not None:
            raise UsageError("give the JSON file once: --json-out FILE (or the old --json FILE)")
        args.json_out, args.json, args.json_out_flag = js, None, "--json"
    if args.command == "simulate" and args.out is None:
        args.out = SIMULATE_DEFAULT_OUT
        try:
            Path(args.out).parent.mkdir(exist_ok=True)
        except OSError:
            pass  # the output check names the path


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        try:
            _normalise(args)
            check_output_paths(*output_paths(args))
            return _dispatch(parser, args)
        except UsageError as e:
            print(f"parsync: error: {e}", file=sys.stderr)
            return EXIT_USAGE
        except BrokenPipeError:  # e.g. `parsync check --list-variants | head -1`
            return EXIT_OK
    except Interrupted as e:  # the command printed its partial result; one line says so
        print(f"parsync: interrupted: {e}", file=sys.stderr, flush=True)
        return EXIT_STOPPED
    except KeyboardInterrupt:  # before the command had anything to show
        print("parsync: interrupted: no partial result yet", file=sys.stderr, flush=True)
        return EXIT_STOPPED


def _dispatch(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
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
    parser.error(f"unknown command {args.command!r}")


# --- helpers ---------------------------------------------------------------------


def _load_scope(
    preset: str | None, config: str | None, policy: str = "reference"
) -> tuple[str, Any]:
    """The scope a command runs: a TOML file, or a preset's scope under ``policy``
    (``Preset.config_for``: a preset too large for exhaustive search under the
    contract names a smaller contract scope)."""
    from parsync.model.config import ConfigError, load_config
    from parsync.model.presets import DEFAULT_PRESET, get_preset

    if config is not None:
        try:
            return Path(config).name, load_config(config)
        except ConfigError as e:
            raise UsageError(str(e)) from None
    name = preset or DEFAULT_PRESET
    try:
        return name, get_preset(name).config_for(policy)
    except KeyError as e:
        raise UsageError(e.args[0]) from None


def _model(cfg: Any, variant: str | None, policy: str = "reference") -> Any:
    from parsync.model.protocol import ParSyncModel, PolicyError

    try:
        return ParSyncModel(cfg, variant, policy=policy)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    except PolicyError as e:
        raise UsageError(str(e)) from None


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
        # written only for the contract, so reference counterexamples keep their form
        **({"policy": model.policy} if model.contract else {}),
        "property": v.property_id,
        "property_name": get_property(v.property_id).name,
        "properties": v.property_ids,
        **v.trace.to_json(),
    }


# --- check -------------------------------------------------------------------------


def _cmd_check(args: argparse.Namespace) -> int:
    from parsync.model.presets import PRESETS
    from parsync.model.variants import ALL_VARIANTS, REFERENCE_VARIANTS

    if args.liveness or args.steady or args.fairness:  # its own scopes (--preset NAME) and variants
        from parsync.engines.liveness import run_command

        return run_command(args, _load_scope, UsageError)  # policy None: the reference
    args.policy = args.policy or "contract"  # safety: the contract by default
    if args.list_variants:
        for v in ALL_VARIANTS if args.policy == "contract" else REFERENCE_VARIANTS:
            print(v.name)
        return EXIT_OK
    if args.list_presets:
        for p in PRESETS.values():
            print(f"{p.name}: {p.summary}\n    {p.config.describe()}")
            if p.contract is not None:
                print(f"    under the contract: {p.contract.describe()}\n    ({p.contract_note})")
        return EXIT_OK

    from parsync.engines.checker import INCOMPLETE, PASS, VIOLATION, Checker, Progress
    from parsync.outputs import emit_json
    from parsync.progress import Display, known_states

    scope, cfg = _load_scope(args.preset, args.config, args.policy)
    model = _model(cfg, args.variant, args.policy)
    # the manifest's count is the total only for the scope it records: the design,
    # symmetry on (a variant or --no-symmetry explores a different graph)
    total = None
    if args.variant is None and not args.no_symmetry:
        total = known_states(cfg.describe(), policy=model.policy)
    if args.max_states is not None:
        total = min(total or args.max_states, args.max_states)

    with Display(f"parsync check {scope}", enabled=args.progress is not False) as bar:

        def cb(p: Progress) -> None:
            bar.search(p.states, p.transitions, p.depth, p.queue, p.seconds, total)

        if (
            args.workers is not None
            or args.checkpoint
            or args.resume
            or args.ray is not None
            or args.frontier_memory is not None
            or args.spill_dir
        ):
            from parsync.engines.parallel import CheckpointError, ParallelChecker, ShardError

            workers = args.workers or 1
            engine: Any = ParallelChecker
            how = f"--workers {workers}"
            if args.ray is not None:
                from parsync.engines.ray_backend import RayChecker

                engine = functools.partial(RayChecker, address=args.ray)
                workers = args.workers  # None: one actor per CPU of the cluster
                how = f"--ray {args.ray}"
            try:
                result = engine(
                    model,
                    workers=workers,
                    symmetry=not args.no_symmetry,
                    max_states=args.max_states,
                    max_seconds=args.max_seconds,
                    progress=cb,
                    checkpoint=args.checkpoint,
                    resume=args.resume,
                    checkpoint_every=args.checkpoint_every,
                    notify=bar.note,
                    frontier_memory=int((args.frontier_memory or DEFAULT_FRONTIER_MB) * 2**20),
                    spill_dir=args.spill_dir,
                ).run()
            except CheckpointError as e:
                raise UsageError(f"check {scope}: {e}") from None
            except ShardError as e:  # also Ray's: missing, unreachable, an actor lost
                raise UsageError(f"check {scope} {how}: {e}") from None
        else:
            result = Checker(
                model,
                symmetry=not args.no_symmetry,
                max_states=args.max_states,
                max_seconds=args.max_seconds,
                progress=cb,
                progress_every=2_000,
            ).run()

    if result.violation is not None:
        doc = counterexample_document(model, scope, result)
        if args.trace_out:
            _write_json(args.trace_out, doc)
        if args.itf_out:
            _write_json(
                args.itf_out,
                result.violation.trace.to_itf(
                    model.config,
                    {
                        "scope": scope,
                        "property": result.violation.property_id,
                        "properties": result.violation.property_ids,
                        "variant": model.variant,
                        **({"policy": model.policy} if model.contract else {}),
                    },
                ),
            )
        _write_diagrams(args, result.violation.trace, model, result.violation.property_ids)

    interrupted = result.stop_reason == "interrupted"
    if args.json or args.json_out:
        d = result.to_json()
        d["scope"] = scope
        d["policy"] = model.policy
        d["interrupted"] = interrupted
        emit_json(d, stdout=bool(args.json), path=args.json_out)
    if not args.json:
        _print_result(scope, model, result)
    if interrupted:
        raise Interrupted(
            f"check {scope}: {result.states:,} distinct states, "
            f"{result.transitions:,} transitions, depth {result.depth} explored, no "
            "violation so far; the result is incomplete"
            + (
                f"; continue it with --resume {result.extra['checkpoint']}"
                if "checkpoint" in result.extra
                else ""
            )
        )

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
    from parsync.render import output_width

    out = Console(highlight=False, width=output_width())
    title = f"parsync check {scope}" + (f" --variant {model.variant}" if model.variant else "")
    title += " --policy contract" if model.contract else ""
    out.print(f"[bold]{title}[/bold]: {model.config.describe()}")
    from parsync.model.presets import PRESETS

    named = PRESETS.get(scope)
    if model.contract and named is not None and named.contract == model.config:
        out.print(f"(the contract scope of {scope}: {named.contract_note})")
    colour = {"pass": "green", "violation": "red", "incomplete": "yellow", "vacuous": "red"}[
        result.verdict
    ]
    out.print(
        f"[bold {colour}]{result.verdict.upper()}[/bold {colour}]  "
        f"{result.states:,} distinct states, {result.transitions:,} transitions, "
        f"depth {result.depth}, {result.seconds:.2f}s "
        f"({result.states_per_second:,.0f} states/s, symmetry group {result.symmetry})"
    )
    if "workers" in result.extra:
        shards = (
            f"{result.extra['workers']} Ray actor(s) ({result.extra['ray_address']})"
            if result.extra.get("backend") == "ray"
            else f"{result.extra['workers']} worker process(es)"
        )
        out.print(
            f"{shards}, 64-bit fingerprints: "
            f"collision probability {result.extra['fingerprint_collision_probability']:.1e} "
            "(TLC's optimistic estimate)"
        )
        if result.extra.get("spilled_states"):
            mb = result.extra["frontier_memory"] / 2**20
            out.print(
                f"frontier spilled to disk: {result.extra['spilled_states']:,} states "
                f"(past {mb:g} MB per shard and level)"
            )
    if "resumed_from" in result.extra:
        r = result.extra["resumed_from"]
        out.print(f"resumed from {r['dir']} at depth {r['depth']} ({r['states']:,} states)")
    if result.stop_reason:
        out.print(f"[yellow]stopped: {result.stop_reason}; the result is incomplete[/yellow]")
        if "checkpoint" in result.extra:
            out.print(f"checkpoint in {result.extra['checkpoint']}: continue with --resume")
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
        text = v.trace.render(
            markup=True, model=model, property_ids=v.property_ids, width=output_width()
        )
        out.print(text, soft_wrap=True)  # wrapped by the renderer, like replay


# --- replay ------------------------------------------------------------------------


def _cmd_replay(args: argparse.Namespace) -> int:
    from parsync.counterexample import ReplayError, actions_from_json, replay
    from parsync.itf import is_itf
    from parsync.model.config import ConfigError, config_from_dict
    from parsync.model.properties import action_violations, state_violations
    from parsync.render import output_width

    try:
        doc = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"cannot read {args.file}: {e.strerror or e}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{args.file}: not valid JSON: {e}") from None
    itf = is_itf(doc)
    if itf:
        meta = doc.get("#meta")
        if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
            raise UsageError(f"{args.file}: an ITF trace needs its scope in '#meta'.'config'")
        cfg_doc = meta["config"]
        variant = meta.get("variant")
    elif not isinstance(doc, dict) or "config" not in doc or "actions" not in doc:
        raise UsageError(
            f"{args.file}: not a parsync counterexample (needs 'config' and 'actions', "
            "or an ITF trace)"
        )
    else:
        cfg_doc, variant = doc["config"], doc.get("variant")
    policy = (doc.get("#meta") or {}).get("policy") if itf else doc.get("policy")
    policy = "reference" if policy is None else policy
    try:
        cfg = config_from_dict(cfg_doc)
    except (ConfigError, ValueError, TypeError) as e:
        raise UsageError(f"{args.file}: {e}") from None
    if variant is not None and not isinstance(variant, str):
        raise UsageError(f"{args.file}: variant must be a variant name or null, got {variant!r}")
    try:
        model = _model(cfg, variant, policy)
    except UsageError as e:
        raise UsageError(f"{args.file}: {e}") from None
    recorded: list[Any] | None = None
    try:
        if itf:
            recorded, actions = _itf_actions(model, doc)
        else:
            actions = actions_from_json(doc["actions"])
    except (ValueError, TypeError) as e:
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
    prop = (doc.get("#meta") or {}).get("property") if itf else doc.get("property")
    notes = _replay_drift(doc, tr, found, recorded, prop)
    for note in notes:
        print(f"parsync: note: {args.file}: {note}", file=sys.stderr)
    if found:
        _write_diagrams(args, tr, model, found)
    if args.json or args.json_out:
        from parsync.outputs import emit_json

        emit_json(
            {"file": args.file, "steps": len(actions), "violations": found, "notes": notes},
            stdout=bool(args.json),
            path=args.json_out,
        )
    if args.json:
        pass  # stdout holds the JSON only
    elif found:
        print(f"replayed {len(actions)} steps: violates {', '.join(found)}")
        print(tr.render(model=model, property_ids=found, width=output_width()))
    else:
        print(f"replayed {len(actions)} steps: no property violated")
    return EXIT_FAIL if found else EXIT_OK


def _itf_actions(model: Any, doc: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    """The decoded states of an ITF trace and the actions between them: each state's
    ``#meta`` action when recorded, else the model's one step that leads there."""
    from parsync.itf import ItfError, spec_projection, state_from_itf
    from parsync.model.actions import action_from_json

    raw = doc["states"]
    if not isinstance(raw, list) or not raw:
        raise ValueError("an ITF trace needs a non-empty 'states' list")
    states = []
    for i, st in enumerate(raw):
        try:
            states.append(state_from_itf(model.config, st))
        except ItfError as e:
            raise ValueError(f"state {i}: {e}") from None
    actions = []
    cur = model.init_state()  # the full model state (the spec's variables and more)
    for i in range(1, len(states)):
        m = raw[i].get("#meta") if isinstance(raw[i], dict) else None
        if isinstance(m, dict) and "parsync-action" in m:
            a = action_from_json(m["parsync-action"])
            t = model.step(cur, a)
        else:
            found = next(
                ((a, t) for a, t in model.successors(cur) if spec_projection(t) == states[i]),
                None,
            )
            if found is None:
                raise ValueError(f"state {i}: no model step leads to it from state {i - 1}")
            a, t = found
        actions.append(a)
        if t is None:  # not enabled: replay reports it at this step
            break
        cur = t
    return states, actions


def _replay_drift(
    doc: dict[str, Any], tr: Any, found: list[str], itf_states: list[Any] | None, prop: Any
) -> list[str]:
    """What differs between the recorded counterexample and its replay today."""
    from parsync.counterexample import state_to_json
    from parsync.itf import spec_projection

    notes = []
    recorded: Any = doc.get("states") if itf_states is None else itf_states
    if isinstance(recorded, list):
        if itf_states is None:
            now: list[Any] = [state_to_json(x) for x in (tr.init, *tr.states)]
        else:
            now = [spec_projection(x) for x in (tr.init, *tr.states)]
        first = next(
            (i for i, (a, b) in enumerate(zip(recorded, now, strict=False)) if a != b), None
        )
        if first is not None or len(recorded) != len(now):
            at = first if first is not None else min(len(recorded), len(now))
            notes.append(
                f"the replayed states differ from the recorded ones from step {at} on "
                "(the model, config or variant changed since it was recorded)"
            )
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
    from parsync.outputs import emit_json
    from parsync.progress import Display, known_states

    scope, cfg = _load_scope(args.preset, None)
    total = known_states(cfg.describe()) if not args.no_symmetry else None
    with Display(f"parsync bench {scope}", enabled=args.progress is not False) as bar:
        rows = bench(
            cfg,
            repeat=args.repeat,
            symmetry=not args.no_symmetry,
            progress=lambda p: bar.search(
                p.states, p.transitions, p.depth, p.queue, p.seconds, total
            ),
        )
    interrupted = bool(rows) and rows[-1]["verdict"] == "interrupted"
    if args.json or args.json_out:
        doc = {"preset": scope, "runs": rows, "interrupted": interrupted}
        emit_json(doc, stdout=bool(args.json), path=args.json_out)
    if not args.json:
        for r in rows:
            print(
                f"{scope}: {r['states']:,} distinct states in {r['seconds']:.2f}s = "
                f"{r['states_per_second']:,.0f} states/s ({r['transitions']:,} transitions, "
                f"depth {r['depth']}, verdict {r['verdict']})"
            )
    if interrupted:
        last = rows[-1]
        raise Interrupted(
            f"bench {scope}: {len(rows) - 1} of {args.repeat} run(s) finished; run "
            f"{len(rows)} stopped after {last['states']:,} states ({last['seconds']:.1f}s), "
            "not a measurement"
        )
    return EXIT_OK


# --- manifest ----------------------------------------------------------------------


def _record_tlc(doc: dict[str, Any], *, keep_current: bool = False) -> None:
    """TLC's counts on every model of ``tlc.MODELS`` into the manifest (``tlc``), when the
    TLA+ tools are found; otherwise the recorded entry stays while the TLA+ sources are
    unchanged. ``keep_current`` (``--write --preset NAME``, a partial rewrite) keeps a
    recorded entry whose TLA+ sources hash is current instead of running TLC again."""
    from parsync import tlc

    if keep_current and doc.get("tlc", {}).get("tla_hash") == tlc.tla_hash():
        print("tlc: kept the recorded entry (TLA+ sources unchanged; --tlc-only reruns it)")
        return

    try:
        jar = tlc.find_tla2tools()
    except tlc.TlaToolsMissing as e:
        kept = doc.get("tlc", {}).get("tla_hash") == tlc.tla_hash()
        if not kept:
            doc.pop("tlc", None)
        print(f"tlc: not run ({e}); {'kept the recorded entry' if kept else 'no entry'}")
        return
    names = ", ".join(f"spec/{m.module}.tla" for m in tlc.MODELS)
    print(f"parsync manifest: TLC on {names} ...", file=sys.stderr, flush=True)

    def show(model: tlc.TlcModel, r: tlc.TlcResult) -> None:
        verdict = "pass" if r.ok else "fail"
        count = f"{r.distinct:,}" if r.distinct is not None else "?"
        print(f"tlc {model.key}: {verdict}, {count} distinct states ({model.policy} policy)")
        sys.stdout.flush()

    doc["tlc"] = tlc.manifest_entry(jar, on_model=show)


def _dump_manifest(doc: dict[str, Any], path: Path) -> Path:
    """Write the manifest (an unwritable path is a usage error); the path as printed:
    relative to the current directory when it lies below it."""
    from parsync import manifest as mf

    try:
        mf.dump(doc, path)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None
    shown = path.resolve()
    return shown.relative_to(Path.cwd()) if shown.is_relative_to(Path.cwd()) else shown


def _manifest_tlc_only(args: argparse.Namespace, path: Path) -> int:
    """``parsync manifest --write --tlc-only``: TLC's models only, into the ``tlc`` section
    of the existing manifest; every other field is written back unchanged."""
    from parsync import manifest as mf
    from parsync import tlc

    if not args.write or args.preset or args.json or args.json_out:
        raise UsageError("--tlc-only goes with --write alone (no --preset, --check or --json)")
    try:
        doc = mf.load(path)
    except FileNotFoundError:
        raise UsageError(f"no manifest at {path}; create it with `{mf.REGENERATE}`") from None
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read manifest {path}: {e}") from None
    try:
        tlc.find_tla2tools()
    except tlc.TlaToolsMissing as e:
        raise UsageError(f"--tlc-only: {e}") from None
    try:
        _record_tlc(doc)
    except KeyboardInterrupt:
        raise Interrupted(f"manifest: interrupted while TLC ran; {path} not written") from None
    shown = _dump_manifest(doc, path)
    print(f"wrote {shown} (tlc only; {doc['tlc']['tla_hash']})")
    failed = [m.key for m in tlc.MODELS if doc["tlc"][m.key]["verdict"] != "pass"]
    return EXIT_FAIL if failed else EXIT_OK


def _cmd_manifest(args: argparse.Namespace) -> int:
    from parsync import manifest as mf
    from parsync.model.presets import PRESETS

    path = Path(args.file) if args.file else mf.DEFAULT_PATH
    if args.tlc_only:
        return _manifest_tlc_only(args, path)
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
                print(
                    f"{n}: omitted in the manifest, not re-run (name it with --preset to retry)",
                    file=sys.stderr if args.json else sys.stdout,
                )

    from parsync.outputs import emit_json
    from parsync.progress import Display

    text_out = sys.stderr if args.json else sys.stdout  # --json: stdout holds the JSON only
    done: dict[str, Any] = {}

    def show(name: str, e: dict[str, Any]) -> None:
        done[name] = e
        if "omitted" in e:
            print(f"{name}: omitted: {e['omitted']}", file=text_out)
        else:
            print(
                f"{name}: {e['verdict']}, {e['states']:,} distinct states, "
                f"{e['transitions']:,} transitions, depth {e['depth']}, "
                f"symmetry group {e['symmetry_group']} ({e['seconds']:.1f}s)",
                file=text_out,
            )
        text_out.flush()

    print(f"parsync manifest: checking {', '.join(names)} ...", file=sys.stderr, flush=True)
    with Display("parsync manifest", enabled=args.progress is not False) as bar:

        def cb(name: str, p: Any) -> None:
            if bar.label != f"parsync manifest {name}":
                bar.relabel(f"parsync manifest {name}")
            base = name.removesuffix(" (liveness)").removesuffix(" (contract)")
            kind = "liveness" if name.endswith(" (liveness)") else "presets"
            kind = "contract" if name.endswith(" (contract)") else kind
            section = committed.get(kind, {}) if committed else {}
            total = section.get(base, {}).get("states")
            bar.search(p.states, p.transitions, p.depth or None, p.queue, p.seconds, total)

        try:
            fresh = mf.build(names, max_seconds=args.max_seconds, on_preset=show, progress=cb)
        except mf.SourcesChanged as e:
            raise UsageError(str(e)) from None
        except KeyboardInterrupt:
            _manifest_interrupted(args, path, names, done, committed)
    entries: dict[str, Any] = fresh["presets"]
    failed = [n for n, e in entries.items() if e.get("verdict", "pass") != "pass"]
    if args.json or args.json_out:
        emit_json(fresh, stdout=bool(args.json), path=args.json_out)

    if args.check:
        assert committed is not None
        diffs = mf.compare_hash(committed)
        for n in names:
            diffs += mf.compare_entry(n, committed.get("presets", {}).get(n), entries[n])
        for n, ce in fresh.get("contract", {}).items():  # the contract scopes (CONTRACT_PRESETS)
            diffs += mf.compare_entry(f"{n} (contract)", committed.get("contract", {}).get(n), ce)
        for n in names:
            if "omitted" in old.get(n, {}):
                print(
                    f"{n}: recorded as omitted in the manifest; nothing to compare", file=text_out
                )
        if diffs:
            print(f"\n{path} differs from the recomputed results:", file=text_out)
            for line in diffs:
                print(f"  {line}", file=text_out)
            print(
                f"regenerate it with `{mf.REGENERATE}` once the change is intended", file=text_out
            )
            return EXIT_FAIL
        print(
            f"{path}: counts and verdicts match for {', '.join(names)} ({fresh['spec_hash']})",
            file=text_out,
        )
        return EXIT_OK

    if args.write:
        doc = mf.merge(committed, fresh)
        try:
            with contextlib.redirect_stdout(text_out):
                _record_tlc(doc, keep_current=bool(args.preset))
        except KeyboardInterrupt:
            raise Interrupted(
                f"manifest: {', '.join(names)} finished; interrupted while TLC ran; "
                f"{path} not written (unchanged)"
            ) from None
        before = set(committed.get("presets", {})) if committed else set()
        dropped = sorted(before - set(doc["presets"]))
        shown = _dump_manifest(doc, path)
        print(f"wrote {shown} ({', '.join(doc['presets'])}; {doc['spec_hash']})", file=text_out)
        if dropped:
            print(f"dropped (computed from other sources): {', '.join(dropped)}", file=text_out)
        return EXIT_FAIL if failed else EXIT_OK

    if failed:
        return EXIT_FAIL
    if any("omitted" in e for e in entries.values()):
        return EXIT_INCOMPLETE
    return EXIT_OK


def _manifest_interrupted(
    args: argparse.Namespace,
    path: Path,
    names: list[str],
    done: dict[str, Any],
    committed: dict[str, Any] | None,
) -> NoReturn:
    """Ctrl-C during ``parsync manifest``: compare what finished (--check), write nothing."""
    from parsync import manifest as mf

    finished = ", ".join(done) or "none"
    head = f"manifest: {len(done)} of {len(names)} preset(s) finished ({finished})"
    if args.check and committed is not None:

        def table(n: str) -> dict[str, Any]:
            got: dict[str, Any] = committed.get(
                "contract" if n.endswith(" (contract)") else "presets", {}
            )
            return got

        diffs = [
            line
            for n, e in done.items()
            for line in mf.compare_entry(n, table(n).get(n.removesuffix(" (contract)")), e)
        ]
        state = f"{len(diffs)} difference(s) in those" if diffs else "those match"
        if not done:
            state = "nothing compared"
        for line in diffs:
            print(f"  {line}")
        raise Interrupted(f"{head}; {state}; the rest is not compared")
    if args.write:
        raise Interrupted(f"{head}; {path} not written (unchanged)")
    raise Interrupted(head)


# --- prove / bmc (Z3) -----------------------------------------------------------------


def _cmd_prove(args: argparse.Namespace) -> int:
    from parsync.proofs.command import BadUsage, run_prove

    try:
        return run_prove(
            args.property,
            args.variant,
            as_json=bool(args.json),
            timeout_s=args.timeout,
            report=args.report,
            json_out=args.json_out,
            progress=args.progress is not False,
            policy=args.policy,
            classify=bool(args.classify),
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
            policy=args.policy,
            depth=args.depth,
            as_json=bool(args.json),
            timeout_s=args.timeout,
            json_out=args.json_out,
            progress=args.progress is not False,
            compare_bfs=bool(args.compare_bfs),
        )
    except BadUsage as e:
        raise UsageError(str(e)) from None


# --- cite --------------------------------------------------------------------------


def _cmd_cite(args: argparse.Namespace) -> int:
    """Print the citations (default), write them, or check the committed file is current."""
    from parsync.citations import REGENERATE, CitationError, load, render
    from parsync.outputs import emit_json, write_text

    try:
        records = load()
        text = render(records)
    except CitationError as e:
        raise UsageError(str(e)) from None
    if args.json or args.json_out:
        emit_json(_citations_json(records), stdout=bool(args.json), path=args.json_out)
        if args.json:
            return EXIT_OK
    if args.write:
        write_text(args.write, text)
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


def _citations_json(records: Any) -> dict[str, Any]:
    """``cite --json``: per catalogue entry its verdict and evidence, and the record hashes."""
    from parsync.citations import evidence

    rows = []
    for p in records.catalogue["properties"]:
        verdict, text = evidence(records, p)
        rows.append({"id": p["id"], "name": p.get("name"), "verdict": verdict, "evidence": text})
    return {
        "format": "parsync-citations/1",
        "spec_hash": records.manifest.get("spec_hash"),
        "proofs_hash": records.proofs_hash or None,
        "missing": records.missing,
        "properties": rows,
    }


# --- gate --------------------------------------------------------------------------


def _cmd_gate(args: argparse.Namespace) -> int:
    from parsync.gate import (
        INTERRUPTED,
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
        policy=args.policy,
    )
    reports = [p for p in (args.junit, args.json_out, args.markdown) if p]
    try:
        with console_progress(args.progress is not False) as (on_stage, tick):
            result = run_gate(opts, report_paths=reports, on_stage=on_stage, tick=tick)
        write_reports(result, args.junit, args.json_out, args.markdown)
    except GateUsageError as e:
        raise UsageError(str(e)) from None
    if args.json:
        from parsync.outputs import emit_json

        emit_json(result.to_json(), stdout=True, path=None)
    print_summary(result, stderr=bool(args.json))  # --json: stdout holds the JSON only
    if result.verdict == INTERRUPTED:
        done = [f"{s.stage} {s.verdict}" for s in result.stages]
        raise Interrupted(
            f"gate: {', '.join(done)}; the remaining stages did not start; no verdict"
        )
    return result.exit_code  # 0 safe, 1 unsafe, 2 set-up error (not "unsafe"), 3 stopped


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
                json_out=args.json_out,
                progress=args.progress is not False,
            )
        return run_record(
            args.out,
            impl=args.impl,
            seed=args.seed,
            steps=args.steps,
            timeout=args.timeout,
            quiet=False,
            progress=args.progress is not False,
        )
    except CommandError as e:
        raise UsageError(str(e)) from None


def run() -> NoReturn:
    """The console entry point: ``main()``, then exit with its code.

    SIGTERM is taken as a Ctrl-C (:func:`_terminate_as_ctrl_c`). Once ``main()`` has
    returned, the run's result is printed and saved; a Ctrl-C that
    lands after that (a second Ctrl-C while the interpreter shuts down, say) would only
    turn the documented exit code into death by SIGINT, so it is ignored from then on.
    (Not inside ``main()``: tests and embedders call it in-process, and an ignored
    SIGINT is inherited by the processes it starts.)"""
    signal.signal(signal.SIGTERM, _terminate_as_ctrl_c)
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sys.exit(code)


def _terminate_as_ctrl_c(_sig: int, frame: FrameType | None) -> None:
    """SIGTERM (``kill``, a CI job's time limit) stops the command as a Ctrl-C does: the
    partial result printed, a checkpoint saved, exit 3. The current SIGINT handler is
    called (a search's graceful stop, a proof's safe point); where SIGINT is ignored
    (a process started in the background by a shell), a SIGTERM still stops."""
    h = signal.getsignal(signal.SIGINT)
    if callable(h):
        h(signal.SIGINT, frame)
        return
    raise KeyboardInterrupt


if __name__ == "__main__":  # pragma: no cover
    run()
