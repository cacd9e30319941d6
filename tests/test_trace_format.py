"""The trace format: the schema file is current, the fast checker agrees with JSON Schema,
and every kind of bad input is one line with file:line and exit 2, never a traceback."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsync.cli import main
from parsync.conformance.observe import KIND_NAMES as OBSERVED_KINDS
from parsync.model.presets import get_preset
from parsync.traces.format import (
    _COMPILED,
    EVENTS,
    KIND_NAMES,
    SCHEMA_FILE,
    _Bad,
    _well_formed,
    check_event,
    check_event_slow,
    check_header,
    schema,
    schema_text,
)
from parsync.traces.simulate import simulate

ROOT = Path(__file__).resolve().parents[1]
jsonschema = pytest.importorskip("jsonschema")
VALIDATOR = jsonschema.Draft202012Validator(schema())


def test_schema_files_are_current_and_valid() -> None:
    assert (ROOT / "spec" / "trace.schema.json").read_text(encoding="utf-8") == schema_text()
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text()
    jsonschema.Draft202012Validator.check_schema(schema())


def test_vocabulary_is_the_conformance_one() -> None:
    assert KIND_NAMES == OBSERVED_KINDS


def _fast_ok(line: Any) -> bool:
    try:
        if isinstance(line, dict) and line.get("type") == "header":
            check_header(line)
        else:
            check_event(line)
    except _Bad:
        return False
    return True


def _sample_lines() -> list[Any]:
    cfg = get_preset("pr").config
    return [*simulate(cfg, seed=3, steps=60, fault_rate=0.3)]


def _mutations(line: dict[str, Any]) -> list[Any]:
    out: list[Any] = []
    for k in list(line):
        d = dict(line)
        del d[k]
        out.append(d)
        for bad in (None, "x", -1, 1.5, True, [], {}, [[1]], [-1], [{"partition": "0"}]):
            d = dict(line)
            d[k] = bad
            out.append(d)
    out.append({**line, "bogus": 1})
    out.append({**line, "ts": 1.25, "x": {"a": 1}})
    return out


def test_fast_checker_agrees_with_json_schema() -> None:
    lines = _sample_lines()
    seen = {ln["type"] for ln in lines}
    assert {"header", "StartCycle", "Propose", "Commit", "HandleReply"} <= seen
    n = 0
    for ln in lines:
        for candidate in [ln, *_mutations(ln)]:
            assert _fast_ok(candidate) == VALIDATOR.is_valid(candidate), candidate
            n += 1
    assert n > 500


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | st.sampled_from(["", "m1", "conflict"]),
    lambda c: (
        st.lists(c, max_size=3) | st.dictionaries(st.sampled_from(["partition", "entries"]), c)
    ),
    max_leaves=6,
)


@settings(max_examples=300, deadline=None)
@given(
    t=st.sampled_from([*EVENTS, "header", "Nope"]),
    fields=st.dictionaries(
        st.sampled_from(
            sorted({n for r, o, _ in _COMPILED.values() for n in (*(x[0] for x in r), *o)})
        ),
        _json,
        max_size=5,
    ),
)
def test_fast_checker_agrees_on_generated_lines(t: str, fields: dict[str, Any]) -> None:
    line = {"type": t, **fields}
    if t == "header":
        return  # headers are covered above; generated configs are not the point here
    assert _fast_ok(line) == VALIDATOR.is_valid(line), line


# --- bad input: one line, file:line, exit 2 ---------------------------------------------------


def _valid_lines() -> list[str]:
    cfg = get_preset("pr").config
    return [json.dumps(d) for d in simulate(cfg, seed=1, steps=12)]


def _edit(lines: list[str], i: int, fn: Any) -> list[str]:
    out = list(lines)
    d = json.loads(out[i])
    fn(d)
    out[i] = json.dumps(d)
    return out


def _cases() -> list[tuple[str, bytes, int | None, str]]:
    good = _valid_lines()

    def text(ls: list[str]) -> bytes:
        return ("\n".join(ls) + "\n").encode()

    bad_cfg = _edit(good, 0, lambda d: d["config"].update(workers=0))
    return [
        ("malformed JSON", text([good[0], '{"type": "Crash", "worker": 0']), 2, "not valid JSON"),
        ("unknown event type", text([good[0], '{"type": "Teleport"}']), 2, "unknown event type"),
        (
            "missing field",
            text([good[0], '{"type": "Crash"}']),
            2,
            "lacks the required field 'worker'",
        ),
        ("mistyped field", text([good[0], '{"type": "Crash", "worker": "0"}']), 2, "integer >= 0"),
        ("worker out of range", text([good[0], '{"type": "Crash", "worker": 7}']), 2, "worker 7"),
        (
            "bucket out of range",
            text(_edit(good, 2, lambda d: d.update(buckets=[[9, 0]]))),
            3,
            "bucket 9",
        ),
        ("header not a Config", text(bad_cfg), 1, "config is not valid: workers"),
        ("not a header", text(good[1:]), 1, "first line must be the header"),
        ("empty file", b"", None, "empty trace"),
        ("truncated last line", text(good)[:-9], len(good), "truncated last line"),
        ("not UTF-8", text(good[:1]) + b'{"type": "\xff"}\n', 2, "UTF-8"),
    ]


@pytest.mark.parametrize("name,data,line,reason", _cases(), ids=[c[0] for c in _cases()])
def test_bad_input_is_one_line_with_file_and_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    data: bytes,
    line: int | None,
    reason: str,
) -> None:
    f = tmp_path / "t.jsonl"
    f.write_bytes(data)
    assert main(["trace", str(f)]) == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    where = f"{f}:{line}:" if line is not None else f"{f}:"
    assert lines[0].startswith(f"parsync: error: {where}"), lines[0]
    assert reason in lines[0], lines[0]
    assert main(["trace", "--json", str(f)]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["verdict"] == "unreadable" and doc["line"] == line


def test_missing_file_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", str(tmp_path / "nope.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["trace", "--max-hidden", "-1", "x"])
    assert e.value.code == 2
    assert main(["trace"]) == 2


def test_schema_option_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trace", "--schema"]) == 0
    assert json.loads(capsys.readouterr().out) == copy.deepcopy(schema())


def _slow_ok(line: Any) -> bool:
    try:
        check_event_slow(line)
    except _Bad:
        return False
    return True


def test_fast_path_is_never_looser_than_the_worded_checker() -> None:
    """_well_formed (the fast path) accepts exactly the events the table-driven checker
    accepts, so its speed can change no verdict and no error message; valid lines take it."""
    n = 0
    for ln in _sample_lines():
        if ln["type"] == "header":
            continue
        assert _well_formed(ln, ln["type"]), ln
        for candidate in _mutations(ln):
            t = candidate.get("type")
            if type(t) is str and t in EVENTS:
                assert _well_formed(candidate, t) == _slow_ok(candidate), candidate
                n += 1
    assert n > 500


@settings(max_examples=300, deadline=None)
@given(
    t=st.sampled_from(list(EVENTS)),
    fields=st.dictionaries(
        st.sampled_from(
            sorted({n for r, o, _ in _COMPILED.values() for n in (*(x[0] for x in r), *o)})
        ),
        _json,
        max_size=5,
    ),
)
def test_fast_path_agrees_on_generated_lines(t: str, fields: dict[str, Any]) -> None:
    line = {"type": t, **fields}
    assert _well_formed(line, t) == _slow_ok(line), line
