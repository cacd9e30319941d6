"""``parsync prove`` and ``parsync bmc``: the command-line side of the Z3 engines.

Kept apart from ``parsync/cli.py`` (which only registers the subcommands and
maps exit codes) so that z3 is imported only when these commands run.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from parsync.proofs.proofs import ALL_GOAL_IDS, PROVED, TYPE_OK, PropertyResult, Prover

EXIT_OK = 0
EXIT_FAIL = 1


class BadUsage(Exception):
    """Raised for bad arguments; the CLI prints it as one line and exits 2."""


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


def run_prove(
    properties: list[str] | None,
    variant: str | None,
    *,
    as_json: bool,
    timeout_s: float,
    report: str | None,
) -> int:
    from parsync.model.variants import get_variant
    from parsync.proofs.report import render, source_hash, to_json, versions

    ids = _ids(properties)
    if variant is not None:
        try:
            get_variant(variant)
        except KeyError as e:
            raise BadUsage(e.args[0]) from None
    if report is not None and (variant is not None or properties):
        raise BadUsage(
            "--report is written for the design and every property only (drop --variant/--property)"
        )
    pr = Prover(variant, timeout_s=timeout_s)
    results: list[PropertyResult] = []
    out = sys.stdout
    if not as_json:
        v = versions()
        title = "parsync prove" + (f" --variant {variant}" if variant else "")
        print(f"{title}: Z3 {v['z3']}, Python {v['python']}, sources {source_hash()}", file=out)
    for pid in ids:
        r = pr.prove(pid)
        results.append(r)
        if not as_json:
            _print_result(r)
    nonvac = pr.nonvacuous() if variant is None else None
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
    proved = all(r.proved for r in allr)
    if report is not None:
        path = Path(report)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(results, nonvac), encoding="utf-8")
            # the machine-readable summary beside it (docs/proofs.json): what `parsync gate`
            # reads, as parsync/records/proofs.json, to report a recorded prove stage
            from parsync.records import proof_summary

            path.with_suffix(".json").write_text(
                json.dumps(proof_summary(to_json(results, nonvac)), indent=2) + "\n",
                encoding="utf-8",
            )
        except OSError as e:
            raise BadUsage(f"cannot write {report}: {e.strerror or e}") from None
    if as_json:
        print(json.dumps(to_json(results, nonvac), indent=2))
    else:
        n = sum(len(r.obligations) for r in allr)
        if proved:
            print(f"PROVED: every obligation ({n}) of {', '.join(ids)}", file=out)
        else:
            bad = sum(len(r.failures) for r in allr)
            print(f"FAILED: {bad} of {n} obligations not proved", file=out)
        if report is not None:
            print(f"wrote {report} and {Path(report).with_suffix('.json')}", file=out)
    return EXIT_OK if proved else EXIT_FAIL


def _print_result(r: PropertyResult) -> None:
    from parsync.proofs.proofs import GOAL_BY_ID

    ok = sum(1 for o in r.obligations if o.outcome == PROVED)
    lem = ", ".join(GOAL_BY_ID[r.pid].lemmas)
    print(
        f"{r.pid:<11} {'proved' if r.proved else 'FAILED':<8} {ok}/{len(r.obligations)} "
        f"obligations {r.seconds:.1f}s" + (f"  lemmas: {lem}" if lem else "")
    )
    for o in r.failures:
        print(f"  {o.message()}")
        if o.cti is not None and o.cti.pre is not None:
            for line in o.cti.render().splitlines()[1:]:
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
) -> int:
    from parsync.model.actions import fmt_action
    from parsync.model.protocol import ParSyncModel
    from parsync.proofs.bmc import Bmc

    try:
        model = ParSyncModel(config, variant)
    except KeyError as e:
        raise BadUsage(e.args[0]) from None
    res = Bmc(model, depth, timeout_s=timeout_s).run()
    if as_json:
        d = res.to_json()
        d["scope"] = scope
        print(json.dumps(d, indent=2))
    else:
        title = f"parsync bmc {scope}" + (f" --variant {variant}" if variant else "")
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
            for i, a in enumerate(res.actions, 1):
                print(f"  {i:>2}. {fmt_action(a)}")
        if res.problem:
            print(f"DISAGREEMENT with the Python model: {res.problem}")
    if res.unknown or res.problem or res.depth is not None:
        return EXIT_FAIL
    return EXIT_OK
