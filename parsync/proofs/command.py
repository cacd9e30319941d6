"""``parsync prove`` and ``parsync bmc``: the command-line side of the Z3 engines.

Kept apart from ``parsync/cli.py`` (which only registers the subcommands and
maps exit codes) so that z3 is imported only when these commands run.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import z3  # type: ignore[import-untyped]

from parsync.errors import EXIT_FAIL, EXIT_OK, Interrupted, UsageError, z3_exception_interrupted
from parsync.outputs import emit_json
from parsync.progress import Display
from parsync.proofs.proofs import ALL_GOAL_IDS, PROVED, TYPE_OK, PropertyResult, Prover


class BadUsage(UsageError):
    """Raised for bad arguments; the CLI prints it as one line and exits 2."""


class _Stopped(Exception):
    """Ctrl-C reached a Z3 engine (KeyboardInterrupt, or Z3 saying so)."""


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C inside the block, in Python or inside Z3, becomes :class:`_Stopped`."""
    try:
        yield
    except KeyboardInterrupt:
        raise _Stopped from None
    except z3.Z3Exception as e:
        if z3_exception_interrupted(e):
            raise _Stopped from None
        raise


def _ids(raw: list[str] | None) -> tuple[str, ...]:
    if not raw:
        return ALL_GOAL_IDS
    wanted: list[str] = []
    for chunk in raw:
        for x in chunk.split(","):
            x = x.strip()
            if not x:
                continue
            if x not in ALL_GOAL_IDS:
                raise BadUsage(f"unknown property {x!r}; known: {', '.join(ALL_GOAL_IDS)}")
            wanted.append(x)
    # every property's hypothesis assumes TypeOK, so its proof always comes along
    return tuple(g for g in ALL_GOAL_IDS if g in wanted or g == TYPE_OK)


def _encoded(variant: str, policy: str = "reference") -> None:
    """A known variant the Z3 encoding has no switch for is a usage error, said so."""
    from parsync.proofs.encoding import CONTRACT_VARIANTS, ENCODED_VARIANTS

    if policy == "reference" and variant in CONTRACT_VARIANTS:
        raise BadUsage(
            f"variant {variant!r} changes a step of the contract policy only; add --policy contract"
        )
    known = ENCODED_VARIANTS | (CONTRACT_VARIANTS if policy == "contract" else frozenset())
    if variant not in known:
        raise BadUsage(
            f"variant {variant!r} is not in the Z3 encoding yet; the explicit-state engines "
            f"have it: parsync check --policy contract --variant {variant}"
        )


def run_tie_stage(command: str, variant: str | None, *, as_json: bool, progress: bool) -> Any:
    """The tie (``parsync/proofs/tie.py``) before a Z3 command may report success: the
    encoding it reads against ``model/protocol.py`` on every quick scope. Prints its
    one-line summary (and, when it fails, where the two differ)."""
    from parsync.proofs.tie import quick_scopes, tie_for

    n = len(quick_scopes())
    done = [0]
    try:
        with Display(f"parsync {command}: tie to model/protocol.py", enabled=progress) as bar:

            def tick(label: str) -> None:
                bar.count(done[0], n, "scopes", label)
                done[0] += 1

            res = tie_for(variant, progress=tick)
    except KeyboardInterrupt:
        raise Interrupted(
            f"{command}: stopped during the tie to model/protocol.py; nothing is proved"
        ) from None
    if not as_json:
        print(res.summary())
        if not res.ok:
            for line in res.failures():
                print(f"  {line}")
    return res


def _tie_failed(command: str, tie: Any, as_json: bool, json_out: str | None) -> int:
    """A failing tie: the command fails (exit 1) without running or claiming anything."""
    if as_json or json_out:
        emit_json(
            {
                "verdict": "fail",
                "reason": "the Z3 encoding differs from model/protocol.py",
                "tie": tie.to_json(),
            },
            stdout=as_json,
            path=json_out,
        )
    if not as_json:
        print(
            f"FAILED: {command} reads a relation that differs from model/protocol.py "
            f"(the tie above names the scope, the state and the action); nothing is proved"
        )
    return EXIT_FAIL


def run_prove(
    properties: list[str] | None,
    variant: str | None,
    *,
    as_json: bool,
    timeout_s: float,
    report: str | None,
    json_out: str | None = None,
    progress: bool = True,
    policy: str | None = None,
    classify: bool = False,
) -> int:
    """``parsync prove``. ``policy`` None is the default: the contract, or, with
    ``report``, the report's two sections (the reference, then the contract)."""
    from parsync.model.variants import get_variant
    from parsync.proofs.report import render, source_hash, to_json, versions

    if report is not None and policy is not None:
        raise BadUsage("--report writes both policies' proofs (docs/proofs.md); drop --policy")
    policy = policy or ("reference" if report is not None else "contract")
    ids = _ids(properties)
    if variant is not None:
        try:
            get_variant(variant)
        except KeyError as e:
            raise BadUsage(e.args[0]) from None
        _encoded(variant, policy)
    if report is not None and (variant is not None or properties):
        raise BadUsage(
            "--report is written for the design and every property only (drop --variant/--property)"
        )
    from parsync.proofs.solving import install_interrupt

    install_interrupt()  # before the encoding is built: Ctrl-C is safe from here on
    # the report always says how each obligation holds; plain prove only when asked
    classify = classify or report is not None
    pr = Prover(variant, timeout_s=timeout_s, policy=policy)
    results: list[PropertyResult] = []
    out = sys.stdout
    if not as_json:
        v = versions()
        title = "parsync prove" + (f" --variant {variant}" if variant else "")
        title += " --policy contract" if policy == "contract" else ""
        print(f"{title}: Z3 {v['z3']}, Python {v['python']}, sources {source_hash()}", file=out)
    tie = run_tie_stage("prove", variant, as_json=as_json, progress=progress)
    if not tie.ok:
        return _tie_failed("prove", tie, as_json, json_out if report is None else json_out)
    total = sum(pr.count(pid) for pid in ids)
    done_before = 0
    discharged = [0]  # obligations decided so far, the current property's included
    current = ids[0]
    nonvac = None
    with Display("parsync prove", enabled=progress) as bar:
        try:
            with _interruptible():
                for pid in ids:
                    current = pid

                    def tick(done: int, _n: int, base: int = done_before, pid: str = pid) -> None:
                        discharged[0] = base + done
                        bar.count(base + done, total, "obligations", pid)

                    r = pr.prove(pid, progress=tick, classify=classify)
                    done_before += len(r.obligations)
                    results.append(r)
                    if not as_json:
                        _print_result(r)
                current = "NonVacuous"
                bar.count(done_before, total, "obligations", "non-vacuity witnesses")
                nonvac = pr.nonvacuous() if variant is None else None
        except _Stopped:
            where = (current, discharged[0], total)
            _prove_interrupted(results, where, ids, as_json, json_out, report)
    contract = None
    if report is not None:  # the report also records the contract's proofs
        if not as_json:
            print("the contract policy, for the report:", file=out)
        cpr = Prover(None, timeout_s=timeout_s, policy="contract")
        cres = []
        with Display("parsync prove --policy contract", enabled=progress) as bar:
            ctotal = sum(cpr.count(pid) for pid in ids)
            cdone = 0
            try:
                with _interruptible():
                    for pid in ids:

                        def ctick(done: int, _n: int, base: int = cdone, pid: str = pid) -> None:
                            bar.count(base + done, ctotal, "obligations", pid)

                        r = cpr.prove(pid, progress=ctick, classify=classify)
                        cdone += len(r.obligations)
                        cres.append(r)
                        if not as_json:
                            _print_result(r)
                    contract = (cres, cpr.nonvacuous())
            except _Stopped:
                _prove_interrupted(
                    results, ("contract", cdone, ctotal), ids, as_json, json_out, report
                )
    if nonvac is not None and not as_json:
        ok = sum(1 for o in nonvac.obligations if o.outcome == PROVED)
        print(
            f"{'NonVacuous':<11} {'witnessed' if nonvac.proved else 'FAILED':<8} "
            f"{ok}/{len(nonvac.obligations)} actions have a reachable witness "
            f"{nonvac.seconds:.1f}s",
            file=out,
        )
        for o in nonvac.failures:
            print(f"  NonVacuous / {o.action}: {o.reason}", file=out)
    allr = results + ([nonvac] if nonvac is not None else [])
    if contract is not None:
        allr += contract[0] + ([contract[1]] if contract[1] is not None else [])
    proved = all(r.proved for r in allr)
    now = source_hash()
    if tie.sources != now:  # edited while proving: the certificate is not about these sources
        print(
            f"FAILED: the sources changed while proving (the tie checked {tie.sources}, "
            f"they are now {now}); nothing is written, run again",
            file=sys.stderr if as_json else out,
        )
        return EXIT_FAIL
    if report is not None:
        path = Path(report)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(results, nonvac, contract=contract, tie=tie), encoding="utf-8")
            # the machine-readable summary beside it (docs/proofs.json): what `parsync gate`
            # reads, as parsync/records/proofs.json, to report a recorded prove stage
            from parsync.records import proof_summary

            summary = proof_summary(to_json(results, nonvac, tie=tie))
            if contract is not None:  # what the gate reports for --policy contract
                csum = proof_summary(to_json(contract[0], contract[1]))
                summary["contract"] = {
                    k: csum[k] for k in ("verdict", "obligations", "proved", "properties")
                } | {"nonvacuous": csum["nonvacuous"]}
            path.with_suffix(".json").write_text(
                json.dumps(summary, indent=2) + "\n", encoding="utf-8"
            )
        except OSError as e:
            raise BadUsage(f"cannot write {report}: {e.strerror or e}") from None
    if as_json or json_out:
        doc = to_json(results, nonvac, tie=tie)
        if policy != "reference":
            doc["policy"] = policy
        emit_json(doc, stdout=as_json, path=json_out)
    if not as_json:
        n = sum(len(r.obligations) for r in allr)
        if proved:
            print(f"PROVED: every obligation ({n}) of {', '.join(ids)}", file=out)
        else:
            bad = sum(len(r.failures) for r in allr)
            print(f"FAILED: {bad} of {n} obligations not proved", file=out)
        if classify:
            extra = sum(o.class_seconds for r in allr for o in r.obligations)
            print(f"classification queries: {extra:.1f}s", file=out)
        if report is not None:
            print(f"wrote {report} and {Path(report).with_suffix('.json')}", file=out)
    return EXIT_OK if proved else EXIT_FAIL


def _prove_interrupted(
    results: list[PropertyResult],
    where: tuple[str, int, int],
    ids: tuple[str, ...],
    as_json: bool,
    json_out: str | None,
    report: str | None,
) -> None:
    """Ctrl-C during ``parsync prove``: what was decided, never "proved" (exit 3)."""
    from parsync.proofs.report import to_json

    current, done, total = where
    ok = sum(1 for r in results if r.proved)
    if as_json or json_out:
        doc = to_json(results, None)
        doc["verdict"] = "interrupted"
        doc["interrupted"] = {
            "during": current,
            "obligations_decided": done,
            "obligations_total": total,
            "not_run": list(ids[len(results) :]),
        }
        emit_json(doc, stdout=as_json, path=json_out)
    unwritten = f"; {report} not written" if report else ""
    raise Interrupted(
        f"prove: {done} of {total} obligations decided, {len(results)} of {len(ids)} "
        f"properties complete ({ok} proved), stopped during {current}; the proof is "
        f"incomplete, not proved{unwritten}"
    )


def _print_result(r: PropertyResult) -> None:
    ok = sum(1 for o in r.obligations if o.outcome == PROVED)
    lem = ", ".join(r.lemmas)
    print(
        f"{r.pid:<11} {'proved' if r.proved else 'FAILED':<8} {ok}/{len(r.obligations)} "
        f"obligations {r.seconds:.1f}s" + (f"  lemmas: {lem}" if lem else "")
    )
    if r.classified:
        from parsync.proofs.report import class_cell

        print(f"  how they hold: {class_cell(r).replace('**', '')}")
    from parsync.render import output_width, wrap

    width = output_width()
    for o in r.failures:
        for line in wrap(f"  {o.message()}", width):
            print(line)
        if o.cti is not None and o.cti.pre is not None:
            for line in o.cti.render(width=width - 4, with_summary=False).splitlines():
                print(f"    {line}")


def run_bmc(
    preset: str | None,
    config: Any,
    scope: str,
    variant: str | None,
    *,
    depth: int,
    as_json: bool,
    timeout_s: float | None,
    json_out: str | None = None,
    progress: bool = True,
    policy: str = "contract",
    compare_bfs: bool = False,
) -> int:
    from parsync.model.protocol import ParSyncModel
    from parsync.proofs.bmc import Bmc

    try:
        model = ParSyncModel(config, variant, policy=policy)
    except KeyError as e:
        raise BadUsage(e.args[0]) from None
    if variant is not None:
        _encoded(variant, policy)
    shown = scope + (" --policy contract" if policy == "contract" else "")
    tie = run_tie_stage("bmc", variant, as_json=as_json, progress=progress)
    if not tie.ok:
        return _tie_failed("bmc", tie, as_json, json_out)
    bfs = None
    if compare_bfs:  # first, so BMC is also asked about the property BFS found
        bfs = bfs_bounded(ParSyncModel(config, variant, policy=policy), depth, progress)
    from parsync.proofs.solving import install_interrupt

    install_interrupt()
    reached = [0]
    with Display(f"parsync bmc {shown}", enabled=progress) as bar:

        def tick(d: int, k: int) -> None:
            reached[0] = d
            bar.count(d, k + 1, "depths", f"depth {d}, none violated below")

        try:
            with _interruptible():
                also = tuple(bfs[1]) if bfs is not None else ()
                res = Bmc(model, depth, timeout_s=timeout_s).run(progress=tick, also=also)
        except _Stopped:
            if as_json or json_out:
                doc: dict[str, Any] = {"verdict": "interrupted", "scope": scope, "variant": variant}
                doc["clean_below_depth"] = reached[0]
                emit_json(doc, stdout=as_json, path=json_out)
            raise Interrupted(
                f"bmc {scope}: no violation at depths < {reached[0]} (of {depth}); "
                f"stopped during depth {reached[0]}, the result is incomplete"
            ) from None
    disagreement = ""
    if bfs is not None and not res.unknown:
        disagreement = compare_verdicts((res.depth, list(res.properties)), bfs)
    if as_json or json_out:
        d = res.to_json()
        d["scope"] = scope
        d["policy"] = policy
        d["tie"] = tie.to_json()
        if bfs is not None:
            d["bfs"] = {"depth": bfs[0], "properties": bfs[1]}
            d["agree"] = None if res.unknown else not disagreement
            if disagreement:
                d["disagreement"] = disagreement
        emit_json(d, stdout=as_json, path=json_out)
    if not as_json:
        title = f"parsync bmc {shown}" + (f" --variant {variant}" if variant else "")
        print(f"{title}: depth <= {depth}, {res.seconds:.1f}s")
        if res.unknown:
            print(f"UNKNOWN: the solver gave up ({res.unknown}); nothing is shown")
        elif res.depth is None:
            print(f"PASS: no property violated within {depth} steps")
        else:
            print(
                f"VIOLATION of {', '.join(res.properties)} at depth {res.depth} "
                f"(no violation at any smaller depth); replayed in the model: "
                f"{'yes' if res.replayed else 'NO'}"
            )
            _print_bmc_trace(model, res)
        if res.problem:
            print(f"DISAGREEMENT with the Python model: {res.problem}")
        if bfs is not None:
            print(f"  BMC: {_verdict_text(res.depth, list(res.properties), depth)}")
            print(f"  BFS: {_verdict_text(bfs[0], bfs[1], depth)}")
            if res.unknown:
                print("BMC and BFS not compared: BMC gave no answer")
            elif disagreement:
                print(f"BMC and BFS disagree: {disagreement}")
            else:
                print(f"BMC and BFS agree to depth {depth}")
    if res.unknown or res.problem or res.depth is not None or disagreement:
        return EXIT_FAIL
    return EXIT_OK


Verdict = tuple[int | None, list[str]]  # (depth of the shortest violation or None, properties)


def bfs_bounded(model: Any, depth: int, progress: bool = True) -> Verdict:
    """The explicit-state BFS (``Checker``) to ``depth`` steps from Init: the depth and the
    properties of the shortest violation it finds, or (None, []) when there is none."""
    from parsync.engines.checker import Checker

    with Display(f"parsync bmc --compare-bfs: BFS to depth {depth}", enabled=progress):
        r = Checker(model, max_depth=depth).run()
    if r.stop_reason == "interrupted":
        raise Interrupted(f"bmc --compare-bfs: BFS stopped before depth {depth}; nothing compared")
    if r.violation is None:
        return None, []
    return len(r.violation.trace.actions), list(r.violation.property_ids)


def compare_verdicts(bmc: Verdict, bfs: Verdict) -> str:
    """Why BMC and BFS disagree ("" when they agree): both find nothing, or both find their
    shortest violation at the same depth with a property in common."""
    (bd, bp), (fd, fp) = bmc, bfs
    if bd is None and fd is None:
        return ""
    if bd is None or fd is None:
        return (
            f"BMC {'found nothing' if bd is None else f'found {_props(bp)} at depth {bd}'}, "
            f"BFS {'found nothing' if fd is None else f'found {_props(fp)} at depth {fd}'}"
        )
    if bd != fd:
        return (
            f"BMC's shortest violation is at depth {bd} ({_props(bp)}), "
            f"BFS's at depth {fd} ({_props(fp)})"
        )
    if not set(bp) & set(fp):
        return f"at depth {bd} BMC violates {_props(bp)}, BFS {_props(fp)}: no property in common"
    return ""


def _props(ps: list[str]) -> str:
    return ", ".join(ps) or "no property"


def _verdict_text(d: int | None, ps: list[str], depth: int) -> str:
    if d is None:
        return f"no violation within {depth} steps"
    return f"{_props(ps)} violated at depth {d}"


def _print_bmc_trace(model: Any, res: Any) -> None:
    """The counterexample, replayed in the model, in the one trace rendering; the bare
    action list when it does not replay."""
    from parsync.counterexample import ReplayError, replay
    from parsync.model.actions import fmt_action
    from parsync.render import output_width

    try:
        tr = replay(model, list(res.actions))
    except ReplayError:
        for i, a in enumerate(res.actions, 1):
            print(f"  {i:>2}. {fmt_action(a)}")
        return
    print(tr.render(model=model, property_ids=res.properties, width=output_width()))
