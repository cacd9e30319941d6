"""docs/guide.md quotes command outputs; every count it quotes must be the real one.

Each output block of the guide (a fenced ``text`` block whose first line is a
``$ parsync ...`` command) is matched by rules: a regex over the quoted lines
and the value the run gives, taken from the recorded runs where there is one
(``spec/manifest.json`` for check and liveness counts, ``docs/proofs.md`` for
proof counts, ``docs/simulation.json`` for simulation figures) and from a real
run of a fast command where there is none (a small-scope check, a variant's
shortest counterexample, one proof). Timings are never compared. A block with
no rule must be listed in ``EXEMPT`` with the reason, so a new quoted output
cannot slip past unchecked. ``test_a_doctored_guide_fails`` shows the check
fails when a quoted number no longer matches.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "guide.md"


def blocks(text: str) -> list[tuple[str, str]]:
    """(command, output) of every command a fenced ``text`` block quotes.

    A block may quote several commands: each ``$ parsync ...`` (or ``$ python -m
    pytest ...``) line starts one; other ``$`` lines (``$ cat pr.md``) belong to
    the command before them. A trailing ``# comment`` is not part of the command.
    """
    out: list[tuple[str, str]] = []
    # a block fenced with more backticks (````text) may quote output that has fences
    for m in re.finditer(r"^(`{3,})text\n(.*?)^\1$", text, re.M | re.S):
        cmd: str | None = None
        body: list[str] = []
        going_on = False  # the command's line ended with a backslash: it continues
        for line in m.group(2).splitlines():
            if going_on and cmd is not None:
                cmd = cmd[:-1].rstrip() + " " + line.split("  #")[0].strip()
                going_on = cmd.endswith("\\")
            elif line.startswith("$ parsync") or line.startswith("$ python -m pytest"):
                if cmd is not None:
                    out.append((cmd, "\n".join(body) + "\n"))
                cmd, body = line[2:].split("  #")[0].strip(), []
                going_on = cmd.endswith("\\")
            elif cmd is not None:
                body.append(line)
        if cmd is not None:
            out.append((cmd, "\n".join(body) + "\n"))
    return out


def _num(s: str) -> int:
    return int(s.replace(",", ""))


# --- the truth: records and fast real runs ------------------------------------------------


@cache
def manifest() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((ROOT / "spec" / "manifest.json").read_text())
    return doc


def _policy(cmd: str) -> str:
    """The policy a quoted command runs: the contract unless it says otherwise."""
    return "reference" if "--policy reference" in cmd else "contract"


@cache
def proofs(policy: str = "contract") -> dict[str, Any]:
    """From docs/proofs.md: per goal (proved, total), non-vacuity, totals, of ``policy``
    (the reference's tables come first; the contract's are in "The contract policy")."""
    md = (ROOT / "docs" / "proofs.md").read_text()
    ref, sep, con = md.partition("\n## The contract policy\n")
    assert sep, "docs/proofs.md lost its contract section"
    tools = re.search(r"- Z3 ([\d.]+), Python ([\d.]+)", md)
    assert tools, "docs/proofs.md lost its header lines"
    if policy == "reference":
        rows = {
            m.group(1): (_num(m.group(2)), _num(m.group(3)))
            for m in re.finditer(
                r"^\| (PS-\d+|TypeOK) \| \w+ \| [^|]+ \| (\d+)/(\d+) \|", ref, re.M
            )
        }
        nonvac = len(re.findall(r"^\| [^|]+ \| satisfied \|", ref, re.M))
    else:
        rows = {
            m.group(1): (_num(m.group(2)), _num(m.group(3)))
            for m in re.finditer(r"^\| (PS-\d+|TypeOK) \| [^|]+ \| (\d+)/(\d+) \|", con, re.M)
        }
        nv = re.search(r"Non-vacuity on the contract: (\d+) of (\d+) actions", con)
        assert nv, "docs/proofs.md lost the contract's non-vacuity line"
        nonvac = _num(nv.group(1))
    total = sum(t for _, t in rows.values()) + nonvac
    proved = sum(p for p, _ in rows.values()) + nonvac
    if policy == "reference":  # the header states the reference's totals: they must agree
        v = re.search(r"- Verdict: \*\*\w+\*\*: (\d+) of (\d+) obligations proved", md)
        assert v and (_num(v.group(1)), _num(v.group(2))) == (proved, total), v
    return {
        "rows": rows,
        "nonvacuous": nonvac,
        "proved": proved,
        "total": total,
        "z3": tools.group(1),
        "python": tools.group(2),
    }


@cache
def check_run(preset: str, variant: str | None, policy: str) -> dict[str, Any]:
    """A real exhaustive check (fast scopes only: a variant's shortest counterexample):
    counts, coverage, counterexample length."""
    from parsync.engines.checker import Checker
    from parsync.model.presets import get_preset
    from parsync.model.protocol import ParSyncModel

    cfg = get_preset(preset).config_for(policy)
    r = Checker(ParSyncModel(cfg, variant, policy=policy), symmetry=True).run()
    return {
        "states": r.states,
        "transitions": r.transitions,
        "depth": r.depth,
        "coverage": dict(r.coverage),
        "steps": len(r.violation.trace.actions) if r.violation is not None else None,
    }


@cache
def proof_run(variant: str, pid: str, policy: str) -> tuple[int, int]:
    """(proved, total) obligations of one property of a variant: a real Z3 run (seconds)."""
    from parsync.proofs.proofs import PROVED, Prover

    r = Prover(variant, policy=policy).prove(pid)
    return sum(1 for o in r.obligations if o.outcome == PROVED), len(r.obligations)


@cache
def mutant_gate() -> str:
    """The Markdown of the guide's mutant gate run (conformance only: seconds)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        md = Path(tmp) / "pr.md"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "parsync.cli",
                "gate",
                "--no-progress",
                "--impl",
                "parsync.refsched.mutants.priority_ignored",
                "--skip",
                "check",
                "--skip",
                "liveness",
                "--skip",
                "prove",
                "--markdown",
                str(md),
                f"--replay-dir={tmp}/replays",
            ],
            capture_output=True,
            text=True,
            cwd=tmp,
            check=False,
        )
        return md.read_text()


# --- the rules ----------------------------------------------------------------------------

#: (what was compared, quoted, real)
Found = tuple[str, object, object]
Rule = Callable[[str, str], list[Found]]


def _counts(regex: str, body: str) -> list[re.Match[str]]:
    return list(re.finditer(regex, body, re.M))


def _recorded(preset: str, policy: str) -> dict[str, Any]:
    """The manifest's entry for the design's scope of ``preset`` under ``policy``."""
    entry: dict[str, Any] = manifest()["contract" if policy == "contract" else "presets"][preset]
    return entry


def check_counts(cmd: str, body: str) -> list[Found]:
    out: list[Found] = []
    preset = "pr" if "--preset pr" in cmd else "small"
    policy = _policy(cmd)
    variant = re.search(r"--variant (\S+)", cmd)
    for m in _counts(r"^(PASS|VIOLATION)\s+([\d,]+) distinct states, ([\d,]+) transitions, "
                     r"depth (\d+)", body):  # fmt: skip
        if variant is None:
            real = _recorded(preset, policy)
        else:
            real = check_run(preset, variant.group(1), policy)
        for i, k in ((2, "states"), (3, "transitions"), (4, "depth")):
            out.append((f"{cmd}: {k}", _num(m.group(i)), real[k]))
    for m in _counts(r"violated after (\d+) steps", body):
        assert variant is not None
        steps = check_run(preset, variant.group(1), policy)["steps"]
        out.append((f"{cmd}: steps", _num(m.group(1)), steps))
    cov = re.search(r"coverage \(transitions per action\): (.*?)(?:\n```|\Z)", body, re.S)
    if cov:  # the design's coverage is recorded with its counts
        assert variant is None, cmd
        real = _recorded(preset, policy)["coverage"]
        for name, n in re.findall(r"(\w+)=([\d,]+)", cov.group(1)):
            out.append((f"{cmd}: coverage {name}", _num(n), real.get(name)))
    return out


def scope_lines(cmd: str, body: str) -> list[Found]:
    """The scope a check prints (W=.. P=.. caps.. faults..) is the preset's own."""
    from parsync.model.presets import PRESETS

    flat = " ".join(body.split())
    out: list[Found] = []
    if cmd == "parsync check --list-presets":
        for name, pr in PRESETS.items():
            m = re.search(rf"(?:^|\s){re.escape(name)}: [^\n]*\n\s+(W=[^\n]*)", body)
            out.append((f"{cmd}: {name}", m.group(1).strip() if m else None, pr.config.describe()))
        return out
    preset = "pr" if "--preset pr" in cmd else "small"
    if "W=" in flat:
        real = PRESETS[preset].config_for(_policy(cmd)).describe()
        out.append((f"{cmd}: scope", real if real in flat else flat[:160], real))
    return out


def replay_counts(cmd: str, body: str) -> list[Found]:
    """The replay of the no-epoch-fencing counterexample saved in the block before."""
    real = check_run("small", "no-epoch-fencing", "contract")["steps"]
    out: list[Found] = []
    for m in _counts(r'replayed (\d+) steps|"steps": (\d+)', body):
        out.append((f"{cmd}: steps", _num(m.group(1) or m.group(2)), real))
    return out


def manifest_counts(cmd: str, body: str) -> list[Found]:
    out: list[Found] = []
    rx = (
        r"^([\w-]+)( \(contract\))?: (\w+), ([\d,]+) distinct states, ([\d,]+) transitions, "
        r"depth (\d+), symmetry group (\d+)"
    )
    for m in _counts(rx, body):
        e = manifest()["contract" if m.group(2) else "presets"][m.group(1)]
        name = m.group(1) + (m.group(2) or "")
        out.append((f"manifest {name}: verdict", m.group(3), e["verdict"]))
        for i, k in ((4, "states"), (5, "transitions"), (6, "depth"), (7, "symmetry_group")):
            out.append((f"manifest {name}: {k}", _num(m.group(i)), e[k]))
    for m in _counts(r"^tlc (\w+): (\w+), ([\d,]+) distinct states", body):
        e = manifest()["tlc"][m.group(1)]
        out.append((f"manifest tlc {m.group(1)}: verdict", m.group(2), e["verdict"]))
        out.append((f"manifest tlc {m.group(1)}: distinct", _num(m.group(3)), e["distinct"]))
    for m in _counts(r"\(([\w, -]+); (sha256:[0-9a-f]+)\.\.\.\)", body):
        h = manifest()["spec_hash"]
        out.append(("manifest: spec hash prefix", m.group(2), h[: len(m.group(2))]))
    return out


def liveness_counts(cmd: str, body: str) -> list[Found]:
    out: list[Found] = []
    rx = r"PASS\s+([\d,]+) abstract states, ([\d,]+) transitions, (\d+) fair components"
    for m in _counts(rx, body):
        e = manifest()["liveness"]["small"]
        for i, k in ((1, "states"), (2, "transitions"), (3, "fair_components")):
            out.append((f"{cmd}: {k}", _num(m.group(i)), e[k]))
    return out


def prove_counts(cmd: str, body: str) -> list[Found]:
    out: list[Found] = []
    policy = _policy(cmd)
    p = proofs(policy)
    variant = re.search(r"--variant (\S+)", cmd)
    for m in _counts(r"^(TypeOK|PS-\d+)\s+(proved|FAILED)\s+(\d+)/(\d+) obligations", body):
        pid = m.group(1)
        if variant is not None and pid != "TypeOK":
            real: tuple[int, int] = proof_run(variant.group(1), pid, policy)
        else:
            real = p["rows"][pid]
        out.append((f"{cmd}: {pid}", (_num(m.group(3)), _num(m.group(4))), real))
    for m in _counts(r"^NonVacuous\s+witnessed (\d+)/(\d+)", body):
        n = p["nonvacuous"]
        out.append((f"{cmd}: NonVacuous", (_num(m.group(1)), _num(m.group(2))), (n, n)))
    for m in _counts(r"^PROVED: every obligation \((\d+)\)", body):
        out.append((f"{cmd}: total", _num(m.group(1)), p["total"]))
    for m in _counts(r"Z3 ([\d.]+), Python ([\d.]+)", body):
        out.append((f"{cmd}: versions", (m.group(1), m.group(2)), (p["z3"], p["python"])))
    return out


def gate_counts(cmd: str, body: str) -> list[Found]:
    out: list[Found] = []
    m = re.search(
        r"check\s+│ pass\s+│[^│]*│ ([\d,]+) states, ([\d,]+) transitions, (\d+) depth", body
    )
    if m:
        e = _recorded("pr", _policy(cmd))
        for i, k in ((1, "states"), (2, "transitions"), (3, "depth")):
            out.append((f"gate check: {k}", _num(m.group(i)), e[k]))
    m = re.search(r"liveness\s+│ pass\s+│[^│]*│ ([\d,]+) states, ([\d,]+) transitions", body)
    if m:
        e = manifest()["liveness"]["small"]
        for i, k in ((1, "states"), (2, "transitions")):
            out.append((f"gate liveness: {k}", _num(m.group(i)), e[k]))
    m = re.search(
        r"prove\s+│ pass\s+│[^│]*│ (\d+) obligations, (\d+) proved, (\d+) properties", body
    )
    if m:
        p = proofs(_policy(cmd))
        real = (p["total"], p["proved"], len(p["rows"]))
        got = (_num(m.group(1)), _num(m.group(2)), _num(m.group(3)))
        out.append(("gate prove: counts", got, real))
    return out


def mutant_counts(cmd: str, body: str) -> list[Found]:
    """The mutant's conformance failure (both the pytest and the gate renderings)."""
    real = mutant_gate()
    out: list[Found] = []
    for rx in (
        r"violated at step (\d+)",
        r"(\d+) tests, (\d+) passed, (\d+) failed, (\d+) skipped",
    ):
        q, r = re.search(rx, body), re.search(rx, real)
        if q:
            out.append((f"{cmd}: {rx}", q.groups(), r.groups() if r else None))
    for rx in (r"spec `([0-9a-f]+)`", r"z3 ([\d.]+)"):
        q, r = re.search(rx, body), re.search(rx, real)
        if q:
            out.append((f"{cmd}: {rx}", q.group(1), r.group(1) if r else None))
    steps = re.findall(r"^\s+\d+\. (\w+\(\d*\))$", body, re.M)
    if steps:
        out.append(
            (f"{cmd}: interleaving", steps, re.findall(r"^\s+\d+\. (\w+\(\d*\))$", real, re.M))
        )
    return out


#: which rules read a block, by its command
RULES: tuple[tuple[str, Rule], ...] = (
    (r"^parsync check( --variant \S+| --config \S+| --preset pr --variant \S+)?$", check_counts),
    (r"^parsync replay ", replay_counts),
    (
        r"^parsync check( --variant \S+| --config myscope.toml| --liveness| --list-presets)?$",
        scope_lines,
    ),
    (r"^parsync manifest --write", manifest_counts),
    (r"^parsync check --liveness$", liveness_counts),
    (r"^parsync prove", prove_counts),
    (r"^parsync gate --preset pr", gate_counts),
    (
        r"^(parsync gate|python -m pytest conformance) --(parsync-)?impl[= ]\S*priority_ignored",
        mutant_counts,
    ),
)

#: blocks quoted without a rule, and why
EXEMPT: dict[str, str] = {
    "parsync check --list-variants": "names only (tests/test_spec.py checks the catalogue)",
    "parsync check --config bad.toml": "error messages (tests/test_config.py)",
    "parsync check --config bad2.toml": "error messages (tests/test_config.py)",
    "parsync check --variant no-epoch-fencing --trace-out cx.json --itf-out cx.itf.json "
    "--mermaid-out cx.mmd --svg-out cx.svg --html-out cx.html": (
        "abridged to `...`: the same run as `parsync check --variant no-epoch-fencing`"
    ),
    "parsync record --out run.jsonl --seed 3 --steps 800": (
        "a free run of real threads: event counts differ from run to run (the guide says so)"
    ),
    "parsync trace run.jsonl": "validates the free run above: its counts differ per run",
    "parsync record --out bad.jsonl --impl parsync.refsched.mutants.rotation_off_by_one "
    "--seed 1 --steps 800": "no output quoted",
    "parsync trace bad.jsonl": "the mutant's first StartCycle is rejected in every run (line 2)",
}


def mismatches(text: str) -> list[str]:
    """Every quoted number of ``text`` that differs from the real one, and every block
    with neither a rule nor an exemption."""
    bad = []
    for cmd, body in blocks(text):
        if cmd in EXEMPT or not body.strip():  # exempt, or no output quoted
            continue
        rules = [r for rx, r in RULES if re.search(rx, cmd)]
        if not rules:
            bad.append(f"{cmd}: quoted output with no rule (add one, or an EXEMPT reason)")
            continue
        found = [f for r in rules for f in r(cmd, body)]
        if not found:
            bad.append(f"{cmd}: its rules matched no quoted figure (the output format changed?)")
        for what, quoted, real in found:
            if quoted != real:
                bad.append(f"{what}: the guide quotes {quoted}, the run gives {real}")
    return bad


def simulation_figures(text: str) -> list[str]:
    """Section 13 quotes the simulated scope; docs/simulation.json is the record."""
    sim = json.loads((ROOT / "docs" / "simulation.json").read_text())
    m = re.search(r"\((\d+) workers, (\d+) buckets, P up to (\d+)\)", text)
    if m is None:
        return ["guide section 13: the simulated scope is no longer quoted (update this test)"]
    top = max(c["key"]["P"] for c in sim["sections"]["grid"])
    real = (sim["base"]["workers"], sim["base"]["buckets"], top)
    quoted = tuple(_num(g) for g in m.groups())
    return [] if quoted == real else [f"simulation scope: quoted {quoted}, recorded {real}"]


def test_every_quoted_number_is_the_real_one() -> None:
    text = GUIDE.read_text(encoding="utf-8")
    assert mismatches(text) + simulation_figures(text) == []


def test_record_says_its_seed_is_not_reproducible() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "parsync.cli", "record", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "NOT reproducible" in " ".join(r.stdout.split())
    traces = (ROOT / "docs" / "traces.md").read_text()
    assert "**`--seed` does not make a run reproducible.**" in traces


def test_a_doctored_guide_fails() -> None:
    """The check is not vacuous: each of these stale figures is caught."""
    text = GUIDE.read_text(encoding="utf-8")
    live = manifest()["liveness"]["small"]["states"]
    pr = manifest()["presets"]["pr"]["states"]
    for real, stale in ((f"{live:,} abstract states", "570,947 abstract states"),
                        (f"{pr:,} distinct states", "2,070,098 distinct states"),
                        ("PROVED: every obligation (", "PROVED: every obligation (4")):  # fmt: skip
        assert real in text, real
        bad = mismatches(text.replace(real, stale, 1))
        assert len(bad) >= 1, stale
    assert simulation_figures(text.replace("2048 buckets", "4096 buckets"))
    # a new quoted output block without a rule is reported too
    new = text + "\n```text\n$ parsync bench\n12,345 states/s\n```\n"
    assert any("no rule" in b for b in mismatches(new))


def test_blocks_are_found() -> None:
    cmds = [c for c, _ in blocks(GUIDE.read_text(encoding="utf-8"))]
    assert "parsync check --liveness" in cmds and "parsync prove" in cmds
    assert len(cmds) >= 12


@pytest.mark.parametrize("cmd", sorted(EXEMPT))
def test_exemptions_are_still_in_the_guide(cmd: str) -> None:
    assert cmd in [c for c, _ in blocks(GUIDE.read_text(encoding="utf-8"))]
