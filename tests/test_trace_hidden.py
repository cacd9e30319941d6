"""Unlogged (hidden) copies and drops, as a recorder that does not see the network
writes them (found with the example emitters, examples/altsched/trace.py):

* an unlogged copy of a proposal is matched to every proposal it may be a copy of
  (a Commit carries no cycle or attempt), so a reply to the older one is kept;
* with ``Duplicate`` hidden, an id the trace never introduced is an unlogged copy's
  id everywhere (Commit, HandleReply, Drop, Duplicate, queued);
* a hidden Drop or Duplicate is searched for only where it could matter, so hidden
  drops no longer make validation crawl.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from parsync.traces.validate import VALID, TraceResult, validate_stream

DATA = Path(__file__).parent / "data"


def _run(lines: list[dict[str, Any]]) -> TraceResult:
    data = "".join(json.dumps(x) + "\n" for x in lines).encode()
    return validate_stream(io.BytesIO(data), "t.jsonl")


def _lines(name: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (DATA / name).read_text().splitlines()]


def test_a_hidden_copy_of_an_older_proposal_is_kept() -> None:
    """altsched, pr, seed 6 (400 steps, proposal copies hidden), cut after the failing
    line: m20 is an unlogged copy of m18 (w1, n1, cycle 10), committed after m18 itself
    and while m22 (w1, n1, cycle 12, same buckets and seqnos) is in flight. Its reply
    m23 is stale (w1 is at cycle 12). The validator matched m20 to m22 only, because
    placing the Duplicate of m18 back in time replayed with the old id table (m23 named
    only the reply to m22), and rejected the last line as "current per the model"."""
    lines = _lines("hidden-proposal-copy.jsonl")
    assert lines[-1] == {
        "type": "HandleReply",
        "worker": 1,
        "id": "m23",
        "need": 1,
        "kind": "already-placed",
        "stale": True,
        "read": [],
    }
    r = _run(lines)
    assert r.verdict == VALID, r.explanation
    assert r.hidden_steps >= 1
    # the line claiming the reply is current is explained too (m20 a copy of m22)
    r = _run([*lines[:-1], dict(lines[-1], stale=False)])
    assert r.verdict == VALID, r.explanation


def _prefix() -> list[dict[str, Any]]:
    """The first events of that trace, before any unlogged copy (lines 1-6)."""
    return _lines("hidden-proposal-copy.jsonl")[:7]


def test_ids_of_unlogged_copies_are_accepted_when_duplicate_is_hidden() -> None:
    lines = _prefix()
    head = lines[0]
    extra = [
        {"type": "Drop", "id": "m638"},
        {"type": "Duplicate", "id": "m639", "copy": "m640"},
        {"type": "Drop", "id": "m640"},
    ]
    r = _run([dict(head, hidden=["Drop", "Duplicate", "StartCycle"]), *lines[1:], *extra])
    assert r.verdict == VALID, r.explanation
    # every copy logged: an unknown id is an invalid line naming it
    r = _run([dict(head, hidden=["StartCycle"]), *lines[1:], *extra])
    assert r.verdict == "invalid" and r.line == len(lines) + 1
    assert "'m638'" in r.message


def test_v2_defer_is_described_as_the_contract_allows() -> None:
    """The v2 Defer description is the contract's (any pending need, any time), not
    version 1's guard; the two schema files are one text (test_trace_format)."""
    from parsync.traces.format import schema

    s = schema()
    v1 = next(x for x in s["$defs"]["v1"]["oneOf"] if x.get("title") == "Defer")
    v2 = next(x for x in s["$defs"]["v2"]["oneOf"] if x.get("title") == "Defer")
    assert "head need" in v1["description"]
    assert "head need" not in v2["description"] and "any pending need" in v2["description"]


def test_two_unlogged_copies_close_together() -> None:
    """altsched, pr, seed 20 (800 steps, every copy and half the drops hidden), cut
    after the failing line: m96 is an unlogged copy of the reply m95 (made between
    lines 365 and 366, taken at 376), m100 one of the proposal m97 (made before 371,
    committed at 374). Line 374 placed the copy of m97; line 376 needs the copy of
    m95 placed before that one, and the replay from there did not make the copy of m97
    again, so it was rejected ("no reply to worker 1 matching the event is in
    flight"). Placed steps are now taken again by later replays."""
    lines = _lines("hidden-copies-close-together.jsonl")
    assert lines[-1]["id"] == "m96" and lines[-3]["id"] == "m100"
    r = _run(lines)
    assert r.verdict == VALID, r.explanation
    assert r.hidden_steps >= 2
