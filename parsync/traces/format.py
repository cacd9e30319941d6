"""The JSONL event-trace format (versions 1 and 2): field tables, fast checker, JSON Schema, reader.

A trace is one JSON object per line. The first line is a header carrying the
:class:`~model.config.Config` the scheduler ran with; every later line is one
event, named after the model action it records (``StartCycle`` ... ``Failover``:
one name for one thing across spec, code and traces). Each event has a few
required fields and optional ones an implementation may leave out when it does
not log that detail; the validator checks what is there and searches over the
rest.

Why a hand-written checker next to the JSON Schema: validating every line with
a general JSON Schema engine costs tens of microseconds, several times the
whole budget of a 50,000 events/s validator. So the field table
:data:`EVENTS` is the one source of truth: :func:`check_event` interprets it
directly (a dict lookup and an ``isinstance`` per field), and :func:`schema`
renders the same table as the JSON Schema that ``spec/trace.schema.json``
publishes (a test keeps the file current and proves the checker and a real
JSON Schema validator agree on valid and invalid lines).

Every problem with the bytes or shapes of a trace is a :class:`TraceFormatError`
naming the file and line; it never escapes as anything else.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from itertools import chain
from pathlib import Path
from typing import IO, Any

from parsync.model.actions import ACTION_NAMES

FORMAT = "parsync-trace"
#: the latest version; the validator reads every version in VERSIONS. Version 1 is
#: judged against the model's ``reference`` policy with the eleven events of
#: ``EVENTS``; version 2 against the ``contract`` (default) or ``reference`` policy
#: named in its header, with the events of ``EVENTS_V2`` (docs/traces.md)
VERSION = 2
VERSIONS = (1, 2)
POLICIES = ("contract", "reference")
DEFAULT_POLICY = {1: "reference", 2: "contract"}
# The broker's answers, spelled as in the conformance observation vocabulary
# (conformance/observe.py KIND_NAMES; a test keeps the two identical).
KIND_NAMES = ("committed", "conflict", "already-placed", "fenced")
# Actions a recorder may leave out unless its header says otherwise: network
# faults an implementation cannot see happen.
DEFAULT_HIDDEN = ("Drop", "Duplicate")

# --- field types ---------------------------------------------------------------------
NAT = "nat"  # integer >= 0 (not a bool)
ID = "id"  # a message id: non-empty string or integer >= 0
BOOL = "bool"
KIND = "kind"  # one of KIND_NAMES
PAIRS = "pairs"  # list of [integer >= 0, integer >= 0]
NATS = "nats"  # list of integer >= 0
IDS = "ids"  # list of message ids
READS = "reads"  # list of {"partition": nat, "entries"?: pairs}
NUMBER = "number"  # metadata: a timestamp
OBJECT = "object"  # metadata: free-form extension

# Metadata any line may carry; the validator ignores it.
COMMON_OPTIONAL: dict[str, str] = {"ts": NUMBER, "x": OBJECT}

# event type -> (required fields, optional fields), each name -> field type
EVENTS: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "StartCycle": ({"worker": NAT}, {"cycle": NAT, "read": READS}),
    "Propose": (
        {"worker": NAT, "need": NAT, "buckets": PAIRS},
        {"epoch": NAT, "priority": NAT, "cycle": NAT, "attempt": NAT, "id": ID},
    ),
    "Defer": ({"worker": NAT}, {"need": NAT}),
    "Commit": (
        {"result": KIND},
        {
            "id": ID,
            "worker": NAT,
            "need": NAT,
            "epoch": NAT,
            "conflicts": NATS,
            "seq": PAIRS,
            "reply": ID,
            "queued": IDS,
        },
    ),
    "HandleReply": (
        {"worker": NAT},
        {"id": ID, "need": NAT, "kind": KIND, "stale": BOOL, "read": READS},
    ),
    "Release": ({"need": NAT}, {"buckets": NATS, "seq": PAIRS}),
    "Crash": ({"worker": NAT}, {}),
    "Recover": ({"worker": NAT}, {"read": READS}),
    "Drop": ({"id": ID}, {}),
    "Duplicate": ({"id": ID}, {"copy": ID}),
    "Failover": ({}, {"epoch": NAT}),
}
assert tuple(EVENTS) == ACTION_NAMES, "one event type per model action, in the same order"

#: version 2: the contract's own steps, needs declared by an event, and the worker's
#: cycle on Recover (for a recorder that does not log a crashed worker's ticks)
EVENTS_V2: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    **EVENTS,
    "Recover": ({"worker": NAT}, {"read": READS, "cycle": NAT}),
    "Timeout": ({"worker": NAT}, {}),
    "Refresh": ({"worker": NAT, "read": READS}, {}),
    "Restart": ({"worker": NAT}, {"cycle": NAT}),
    "Need": (
        {"need": NAT, "owner": NAT},
        {"priority": NAT, "gang": NAT, "size": NAT, "eligible": NATS},
    ),
    # the contract's network apart from the broker's inbox: a proposal reaches the broker
    # (optional: a trace that does not log it leaves delivery a hidden step, taken just
    # before the broker decides on the proposal)
    "Deliver": ({"id": ID}, {"worker": NAT, "need": NAT}),
}
TABLES: dict[int, dict[str, tuple[dict[str, str], dict[str, str]]]] = {1: EVENTS, 2: EVENTS_V2}
#: the event types a version 2 header may declare ``hidden`` (the validator searches
#: over unlogged steps of these; a Propose, a broker decision or a Need cannot be
#: left out: the events after them could not be matched)
HIDEABLE_V2 = (
    "StartCycle",
    "Release",
    "Crash",
    "Recover",
    "Drop",
    "Duplicate",
    "Failover",
    "Timeout",
    "Refresh",
    "Restart",
)

HEADER_REQUIRED: dict[str, str] = {"format": "format", "version": "version", "config": OBJECT}
HEADER_OPTIONAL: dict[str, str] = {"hidden": "hidden", "source": "str"}
HEADER_OPTIONAL_V2: dict[str, str] = {**HEADER_OPTIONAL, "policy": "policy"}


class TraceFormatError(Exception):
    """A trace cannot be read: ``file:line: reason`` (one line, exit 2)."""

    def __init__(self, path: str, line: int | None, reason: str) -> None:
        self.path = path
        self.line = line
        self.reason = reason
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {reason}")


class _Bad(Exception):
    """A shape problem found by the checker (file and line are added by the caller)."""


# --- the fast checker ---------------------------------------------------------------------


def _nat(v: Any) -> bool:
    return type(v) is int and v >= 0


def _pair(v: Any) -> bool:
    return type(v) is list and len(v) == 2 and _nat(v[0]) and _nat(v[1])


def _check_field(name: str, kind: str, v: Any) -> None:
    if kind == NAT:
        if not _nat(v):
            raise _Bad(f"field {name!r} must be an integer >= 0, got {_show(v)}")
    elif kind == ID:
        if not ((type(v) is str and v) or _nat(v)):
            raise _Bad(f"field {name!r} must be a message id (string or integer), got {_show(v)}")
    elif kind == BOOL:
        if type(v) is not bool:
            raise _Bad(f"field {name!r} must be true or false, got {_show(v)}")
    elif kind == KIND:
        if v not in KIND_NAMES or type(v) is not str:
            raise _Bad(f"field {name!r} must be one of {', '.join(KIND_NAMES)}; got {_show(v)}")
    elif kind == PAIRS:
        if type(v) is not list or not all(_pair(x) for x in v):
            raise _Bad(f"field {name!r} must be a list of [integer, integer] pairs, got {_show(v)}")
    elif kind == NATS:
        if type(v) is not list or not all(_nat(x) for x in v):
            raise _Bad(f"field {name!r} must be a list of integers >= 0, got {_show(v)}")
    elif kind == IDS:
        if type(v) is not list:
            raise _Bad(f"field {name!r} must be a list of message ids, got {_show(v)}")
        for i, x in enumerate(v):
            _check_field(f"{name}[{i}]", ID, x)
    elif kind == READS:
        if type(v) is not list:
            raise _Bad(f"field {name!r} must be a list of partition reads, got {_show(v)}")
        for i, r in enumerate(v):
            if type(r) is not dict or not _nat(r.get("partition")):
                raise _Bad(f"field {name}[{i}] must be an object with an integer 'partition'")
            extra = set(r) - {"partition", "entries"}
            if extra:
                raise _Bad(f"field {name}[{i}] has unknown field(s): {', '.join(sorted(extra))}")
            if "entries" in r:
                _check_field(f"{name}[{i}].entries", PAIRS, r["entries"])
    elif kind == NUMBER:
        if type(v) not in (int, float):
            raise _Bad(f"field {name!r} must be a number, got {_show(v)}")
    elif kind == OBJECT:
        if type(v) is not dict:
            raise _Bad(f"field {name!r} must be an object, got {_show(v)}")
    else:  # pragma: no cover - the table uses only the kinds above
        raise AssertionError(kind)


def _show(v: Any) -> str:
    text = json.dumps(v) if not isinstance(v, (set, bytes)) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


_OK: dict[str, Any] = {
    NAT: _nat,
    ID: lambda v: (type(v) is str and v != "") or _nat(v),
    BOOL: lambda v: type(v) is bool,
    KIND: lambda v: type(v) is str and v in KIND_NAMES,
    PAIRS: lambda v: type(v) is list and all(_pair(x) for x in v),
    NATS: lambda v: type(v) is list and all(_nat(x) for x in v),
    IDS: lambda v: type(v) is list and all((type(x) is str and x != "") or _nat(x) for x in v),
    NUMBER: lambda v: type(v) in (int, float),
    OBJECT: lambda v: type(v) is dict,
}
_Compiled = dict[str, tuple[tuple[tuple[str, str, Any], ...], dict[str, tuple[str, Any]], int]]
# per version, per event type: (required (name, kind, test) ..., {optional name: (kind,
# test)}, line size)
_COMPILED_BY: dict[int, _Compiled] = {
    v: {
        t: (
            tuple((n, k, _OK.get(k)) for n, k in req.items()),
            {n: (k, _OK.get(k)) for n, k in (*opt.items(), *COMMON_OPTIONAL.items())},
            len(req) + 1,
        )
        for t, (req, opt) in table.items()
    }
    for v, table in TABLES.items()
}
_COMPILED = _COMPILED_BY[VERSION]  # the latest (a superset of every earlier version)


def _pairs_ok(v: Any) -> bool:
    # every test runs in C: a read carries a pair per bucket of a partition. With orjson,
    # the list is written back as JSON and its digits deleted: what is left must be
    # ``[[,],[,],...]`` (about three times quicker than the set tests below). A JSON value
    # made of digits only is an integer >= 0, so a bool, float, string, negative or nested
    # value fails; an integer orjson cannot write makes the test say no (the slow path
    # then decides)
    if type(v) is not list:
        return False
    if _dumps is not None:
        try:
            text = _dumps(v).translate(None, b"0123456789")
        except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits
            return False
        n = len(v)
        want = _SKELETONS.get(n)
        if want is None:
            want = b"[" + b",".join([b"[,]"] * n) + b"]"
            if n <= 4096:
                _SKELETONS[n] = want
        return text == want
    if not v:
        return True
    if set(map(type, v)) != _LIST or set(map(len, v)) != _TWO:
        return False
    flat = list(chain.from_iterable(v))
    return set(map(type, flat)) == _INT and min(flat) >= 0


try:
    from orjson import dumps as _dumps
except ImportError:  # pragma: no cover - depends on the installation
    _dumps = None  # type: ignore[assignment]
_SKELETONS: dict[int, bytes] = {}  # pairs per list -> the text of that many empty pairs
_LIST = {list}
_TWO = {2}
_INT = {int}


def _reads_ok(v: Any) -> bool:
    if type(v) is not list:
        return False
    for r in v:
        if type(r) is not dict or not _nat(r.get("partition")):
            return False
        if len(r) > 1 and ("entries" not in r or len(r) > 2 or not _pairs_ok(r["entries"])):
            return False
    return True


# The fast path of :func:`check_event`, per version and event type: the field names
# it must have, the names it may have, and a yes/no test per name, compiled into one
# straight-line function (``_compile_fast``). It answers only "well-formed or not"
# (a few microseconds on a long trace); a "not" is re-checked by the slow,
# table-driven path that words the error. It is never looser than the slow path (a test
# checks the two agree), so the error text and the verdicts stay those of the
# slow path.
_FAST_TESTS: dict[str, Any] = {**_OK, PAIRS: _pairs_ok, READS: _reads_ok}
_MISSING = object()


def _compile_fast(t: str, req: Mapping[str, str], opt: Mapping[str, str]) -> Any:
    """One event type's fast test as straight-line code: the key sets, then each field
    inline (integers and ids without a call; the other kinds call their predicate).
    Equal to looping over the table (``_FAST``), without the loop."""
    body = [
        "def check(ev):",
        "    keys = ev.keys()",
        "    if not (REQ <= keys and keys <= ALLOWED):",
        "        return False",
        "    get = ev.get",
    ]
    env: dict[str, Any] = {
        "REQ": frozenset(req),
        "ALLOWED": frozenset(("type", *req, *opt, *COMMON_OPTIONAL)),
        "MISSING": _MISSING,
    }
    fields = [(n, k, True) for n, k in req.items()]
    fields += [(n, k, False) for n, k in (*opt.items(), *COMMON_OPTIONAL.items())]
    for i, (name, kind, required) in enumerate(fields):
        body.append(f"    v = get({name!r}, MISSING)")
        guard = "" if required else "v is not MISSING and "
        if kind == NAT:
            bad = "(type(v) is not int or v < 0)"
        elif kind == ID:
            bad = "not ((type(v) is str and v != '') or (type(v) is int and v >= 0))"
        else:
            env[f"T{i}"] = _FAST_TESTS[kind]
            bad = f"not T{i}(v)"
        body += [f"    if {guard}{bad}:", "        return False"]
    body.append("    return True")
    exec("\n".join(body), env)  # noqa: S102 - code built from the field table above
    return env["check"]


# per version, per event type: the compiled fast test
_WF_BY: dict[int, dict[str, Any]] = {
    v: {t: _compile_fast(t, req, opt) for t, (req, opt) in table.items()}
    for v, table in TABLES.items()
}


def _well_formed(ev: dict[str, Any], t: str, version: int = VERSION) -> bool:
    """The fast path: True only when every field is present, known and well typed."""
    return bool(_WF_BY[version][t](ev))


def _field_ok(name: str, kind: str, test: Any, v: Any) -> None:
    # the common case is one call of a small predicate; the message is built on failure
    if test is None or not test(v):
        _check_field(name, kind, v)


def check_event(ev: Any, version: int = VERSION) -> str:
    """Check one event's shape against the version's table (:data:`EVENTS`,
    :data:`EVENTS_V2`); its type, or raise ``_Bad``."""
    if type(ev) is dict:
        t = ev.get("type")
        fast = _WF_BY[version]
        if type(t) is str and t in fast and fast[t](ev):
            return t
    return check_event_slow(ev, version)


def check_event_slow(ev: Any, version: int = VERSION) -> str:
    """:func:`check_event` without its fast path: the checker that words each error."""
    if type(ev) is not dict:
        raise _Bad(f"an event must be a JSON object, got {_show(ev)}")
    t = ev.get("type")
    compiled = _COMPILED_BY[version]
    spec = compiled.get(t) if type(t) is str else None
    if spec is None:
        if t == "header":
            raise _Bad("a second header: the header is the first line only")
        if type(t) is str and t in _COMPILED_BY[VERSION]:
            raise _Bad(f"event type {t!r} is new in version 2; this trace is version {version}")
        known = ", ".join(TABLES[version])
        raise _Bad(f"unknown event type {_show(t)}; known types: {known}")
    required, optional, n = spec
    for name, kind, test in required:
        if name not in ev:
            raise _Bad(f"{t} event lacks the required field {name!r}")
        _field_ok(name, kind, test, ev[name])
    if len(ev) > n:
        for name, v in ev.items():
            o = optional.get(name)
            if o is None:
                if name == "type" or any(name == r[0] for r in required):
                    continue
                raise _Bad(f"{t} event has an unknown field {name!r}")
            _field_ok(name, o[0], o[1], v)
    assert isinstance(t, str)
    return t


def check_header(h: Any) -> None:
    """Check the header line's shape (the Config itself is checked by ``config_from_dict``)."""
    if type(h) is not dict or h.get("type") != "header":
        raise _Bad(
            'the first line must be the header {"type": "header", "format": '
            f'"{FORMAT}", "version": {VERSION}, "config": {{...}}}}'
        )
    for name in HEADER_REQUIRED:
        if name not in h:
            raise _Bad(f"the header lacks the required field {name!r}")
    if h["format"] != FORMAT:
        raise _Bad(f"the header's format must be {FORMAT!r}, got {_show(h['format'])}")
    version = h["version"]
    if type(version) is not int or version not in VERSIONS:
        reads = " and ".join(map(str, VERSIONS))
        raise _Bad(f"unsupported trace version {_show(version)} (this validator reads {reads})")
    if type(h["config"]) is not dict:
        raise _Bad(f"the header's config must be an object, got {_show(h['config'])}")
    table = TABLES[version]
    for name, v in h.items():
        if name in ("type", *HEADER_REQUIRED):
            continue
        if name == "hidden":
            if type(v) is not list or not all(type(x) is str and x in table for x in v):
                raise _Bad(f"the header's hidden must be a list of event types, got {_show(v)}")
            if version >= 2:
                for x in v:
                    if x not in HIDEABLE_V2:
                        raise _Bad(
                            f"the header declares {x} hidden; in version 2 only "
                            f"{', '.join(HIDEABLE_V2)} may be left out"
                        )
        elif name == "policy" and version >= 2:
            if type(v) is not str or v not in POLICIES:
                raise _Bad(
                    f"the header's policy must be one of {', '.join(POLICIES)}, got {_show(v)}"
                )
        elif name == "source":
            if type(v) is not str:
                raise _Bad(f"the header's source must be a string, got {_show(v)}")
        elif name in COMMON_OPTIONAL:
            _check_field(name, COMMON_OPTIONAL[name], v)
        else:
            raise _Bad(f"the header has an unknown field {name!r}")


# --- the same table as a JSON Schema ---------------------------------------------------------


def _schema_of(kind: str) -> dict[str, Any]:
    nat: dict[str, Any] = {"type": "integer", "minimum": 0}
    pairs: dict[str, Any] = {
        "type": "array",
        "items": {"type": "array", "items": nat, "minItems": 2, "maxItems": 2},
    }
    table: dict[str, dict[str, Any]] = {
        NAT: nat,
        ID: {"oneOf": [{"type": "string", "minLength": 1}, nat]},
        BOOL: {"type": "boolean"},
        KIND: {"enum": list(KIND_NAMES)},
        PAIRS: pairs,
        NATS: {"type": "array", "items": nat},
        IDS: {"type": "array", "items": {"oneOf": [{"type": "string", "minLength": 1}, nat]}},
        READS: {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["partition"],
                "properties": {"partition": nat, "entries": pairs},
                "additionalProperties": False,
            },
        },
        NUMBER: {"type": "number"},
        OBJECT: {"type": "object"},
        "format": {"const": FORMAT},
        "version": {"const": 1},
        "version2": {"const": 2},
        "hidden": {"type": "array", "items": {"enum": list(EVENTS)}},
        "hidden2": {"type": "array", "items": {"enum": list(HIDEABLE_V2)}},
        "policy": {"enum": list(POLICIES)},
        "str": {"type": "string"},
    }
    return table[kind]


_DOC = {
    "StartCycle": "A worker starts a cycle and reads one partition fresh (none while down).",
    "Propose": "A worker sends a proposal: the buckets with the seqno read for each.",
    "Defer": "Nothing fits the worker's head need: it waits for a later cycle.",
    "Commit": (
        "The broker decides on one proposal; seq: touched buckets' seqnos after; queued: "
        "the other proposals in the broker's queue when it chose (priority is checked on them; "
        "version 2, contract: they are in the broker's inbox)."
    ),
    "HandleReply": "A worker takes a reply (stale ones are discarded); read: forced re-reads.",
    "Release": "A placed need completes: its claims go, its buckets' seqnos rise.",
    "Crash": "A worker crashes, losing its view and attempt.",
    "Recover": "A crashed worker comes back and re-reads every partition.",
    "Drop": "The network loses a message in flight.",
    "Duplicate": "The network delivers a second copy of a message (copy: the copy's id).",
    "Failover": "A new broker epoch starts from the durable state.",
    "Timeout": "Version 2: a waiting worker abandons its outstanding attempt.",
    "Refresh": "Version 2: an extra fresh read of one partition (read: exactly one entry).",
    "Restart": (
        "Version 2: a crashed worker comes back with nothing re-read (cycle: its cycle now)."
    ),
    "Need": (
        "Version 2: a need arrives (need: the next need id; the fields of a Config need "
        "but arrival); its owner's next StartCycle takes it up."
    ),
    "Deliver": (
        "Version 2, contract: the network hands a proposal (id: the Propose's id) to the "
        "broker's inbox; priority on conflict is judged on the inbox. Optional: without "
        "it the proposal is delivered just before the broker decides on it."
    ),
}
_DOC_V2 = {
    "Defer": (
        "A worker sets one of its pending needs aside until its next cycle (need: which; "
        "the contract lets a live worker with no outstanding proposal defer any pending "
        "need at any time, whether or not a bucket set fits)."
    ),
    "Recover": (
        "A crashed worker comes back and re-reads every partition (version 2 cycle: its "
        "cycle now, when its ticks while down are hidden)."
    ),
}


def _object(type_const: str, req: Mapping[str, str], opt: Mapping[str, str], doc: str) -> Any:
    props: dict[str, Any] = {"type": {"const": type_const}}
    for name, kind in (*req.items(), *opt.items(), *COMMON_OPTIONAL.items()):
        props[name] = _schema_of(kind)
    return {
        "title": type_const,
        "description": doc,
        "type": "object",
        "required": ["type", *req],
        "properties": props,
        "additionalProperties": False,
    }


def schema() -> dict[str, Any]:
    """The JSON Schema of one trace line (header or event) of either version, rendered
    from the field tables: a line is a version 1 line or a version 2 line (``$defs``
    ``v1`` and ``v2``); which events follow a header is the header's ``version``."""
    header1 = _object(
        "header",
        HEADER_REQUIRED,
        HEADER_OPTIONAL,
        "Version 1 first line: the Config (model/config.py Config.to_dict fields), the "
        f"actions the recorder may leave out (default {list(DEFAULT_HIDDEN)}) and a "
        "free-form source. Judged against the reference policy.",
    )
    header2 = _object(
        "header",
        {**HEADER_REQUIRED, "version": "version2"},
        {**HEADER_OPTIONAL_V2, "hidden": "hidden2"},
        "Version 2 first line: as version 1, plus the policy judged against (default "
        "contract). Needs may also be declared by Need events.",
    )
    events1 = [_object(t, req, opt, _DOC[t]) for t, (req, opt) in EVENTS.items()]
    events2 = [_object(t, req, opt, _DOC_V2.get(t, _DOC[t])) for t, (req, opt) in EVENTS_V2.items()]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://parsync-spec.invalid/{FORMAT}/v{VERSION}.schema.json",
        "title": "ParSync event trace, versions 1 and 2: one line",
        "description": (
            "One JSON object per line. The first line is the header, every later line "
            "an event named after the model action it records. The header's version "
            "(1 or 2) says which events may follow: a line is valid when it is a line of "
            "that version ($defs v1, v2). See docs/traces.md."
        ),
        "$defs": {
            "v1": {"oneOf": [header1, *events1]},
            "v2": {"oneOf": [header2, *events2]},
        },
        "anyOf": [{"$ref": "#/$defs/v1"}, {"$ref": "#/$defs/v2"}],
    }


def schema_text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


SCHEMA_FILE = Path(__file__).with_name("trace.schema.json")


# --- reading, line by line --------------------------------------------------------------------


try:  # a dependency: about four times quicker per line than the json module
    from orjson import loads as _loads
except ImportError:  # pragma: no cover - depends on the installation
    _loads = json.loads  # type: ignore[assignment]


def loads_function() -> Any:
    """The function that parses a trace line (``orjson.loads``, or ``json.loads``)."""
    return _loads


def json_parser() -> str:
    """The module that parses trace lines: ``orjson``, or ``json`` where it is missing."""
    return str(_loads.__module__)


def _decode(path: str, number: int, raw: bytes) -> Any:
    """Parse one line; every failure is a TraceFormatError naming the line."""
    try:
        return _loads(raw)
    except UnicodeDecodeError as e:
        raise TraceFormatError(path, number, f"not UTF-8 text ({e.reason})") from None
    except json.JSONDecodeError as e:
        # a line read from a file ends with a newline unless it is the last one
        if not raw.endswith(b"\n"):
            raise TraceFormatError(
                path, number, f"truncated last line (no newline, not complete JSON: {e.msg})"
            ) from None
        raise TraceFormatError(
            path, number, f"not valid JSON: {e.msg} (column {e.colno})"
        ) from None
    except RecursionError:
        raise TraceFormatError(path, number, "not valid JSON: nested too deeply") from None


def read_lines(stream: IO[bytes], path: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) for every non-blank line; one line in memory at a time.

    It reads no further than the line it yields, so a caller may stop after the
    header and go on with :func:`event_lines` on the same stream.
    """
    number = 0
    for raw in stream:
        number += 1
        if raw.strip():
            yield number, _decode(path, number, raw)


def read_header(path: str, lines: Iterator[tuple[int, Any]]) -> tuple[int, dict[str, Any]]:
    """(line number, header) of the first non-blank line, shape-checked."""
    try:
        number, h = next(lines)
    except StopIteration:
        raise TraceFormatError(path, None, "empty trace: no header line") from None
    try:
        check_header(h)
    except _Bad as e:
        raise TraceFormatError(path, number, str(e)) from None
    return number, h


def event_lines(
    stream: IO[bytes], path: str, after: int = 0, version: int = 1
) -> Iterator[tuple[int, dict[str, Any], str]]:
    """(line number, event, its type) for each event line, parsed and shape-checked.

    ``after`` is the number of lines already read (the header's line number).
    This is the validator's inner loop, so it is one generator, not a chain:
    a line is parsed, and given the fast shape test, in place; blank lines and
    every error take the slower, wording paths (:func:`_decode`,
    :func:`check_event_slow`).
    """
    number = after
    loads = _loads
    fast = _WF_BY[version]
    for raw in stream:
        number += 1
        try:
            ev = loads(raw)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError too
            if not raw.strip():
                continue
            ev = _decode(path, number, raw)  # raises the worded error
        if type(ev) is dict:
            t = ev.get("type")
            if type(t) is str and t in fast and fast[t](ev):
                yield number, ev, t
                continue
        try:
            t = check_event_slow(ev, version)
        except _Bad as e:
            raise TraceFormatError(path, number, str(e)) from None
        yield number, ev, t


def parse_event(
    path: str, number: int, raw: bytes, version: int = 1
) -> tuple[dict[str, Any], str] | None:
    """One line of :func:`event_lines`: (event, its type), parsed and shape-checked, or
    None for a blank line; every problem a TraceFormatError naming the line. (The
    validator's loop reads lines itself and takes this path for a line its compiled
    handlers leave to the general path.)"""
    try:
        ev = _loads(raw)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError too
        if not raw.strip():
            return None
        ev = _decode(path, number, raw)  # raises the worded error
    if type(ev) is dict:
        t = ev.get("type")
        if type(t) is str:
            fast = _WF_BY[version].get(t)
            if fast is not None and fast(ev):
                return ev, t
    try:
        t = check_event_slow(ev, version)
    except _Bad as e:
        raise TraceFormatError(path, number, str(e)) from None
    return ev, t


__all__ = [
    "DEFAULT_HIDDEN",
    "DEFAULT_POLICY",
    "EVENTS",
    "EVENTS_V2",
    "HIDEABLE_V2",
    "POLICIES",
    "TABLES",
    "VERSIONS",
    "FORMAT",
    "KIND_NAMES",
    "SCHEMA_FILE",
    "TraceFormatError",
    "VERSION",
    "check_event",
    "check_header",
    "event_lines",
    "parse_event",
    "read_header",
    "read_lines",
    "schema",
    "schema_text",
]
