"""Sequence diagrams of counterexamples: Mermaid text, a self-contained SVG, an HTML page.

Participants are the workers (``W0``, ``W1`` ...) and the broker (``B``). Each
step of the trace is one event, numbered like the text rendering:

* a message sent is an arrow from its sender to its receiver (``Propose``:
  worker to broker; ``Commit``: the broker's reply to the proposer);
* a fault is marked: a dropped message is a lost arrow (``-x``), a duplicated
  one an open arrow (``-)``), a crash or failover a note, each inside a red
  ``rect`` block, with ``FAULT`` in its text;
* other steps (``StartCycle``, ``Defer``, ``HandleReply``, ``Recover``,
  ``Release``, and the contract's ``Deliver``: the proposal reaches the broker's
  inbox; ``Timeout``, ``Refresh``, ``Restart``) are notes over the participant
  that takes them (``Reject`` is an arrow like ``Commit``);
* a last note says which property fails and why.

The SVG is drawn here (lifelines, arrows and notes as plain SVG elements, no
script, no dependency); the HTML page embeds that SVG and shows the Mermaid
source as text, so it works offline.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from html import escape
from typing import Any, NamedTuple

from parsync.model.actions import (
    Action,
    Commit,
    Crash,
    Defer,
    Deliver,
    Drop,
    Duplicate,
    Failover,
    HandleReply,
    Propose,
    Recover,
    Refresh,
    Reject,
    Release,
    Restart,
    StartCycle,
    Timeout,
    action_name,
)
from parsync.model.state import REPLY_KINDS, Proposal, Reply, State


class Event(NamedTuple):
    step: int  # 1.., or 0 for the closing verdict note
    kind: str  # "arrow" | "note"
    src: str  # participant id
    dst: str  # participant id (== src for a note over one participant)
    text: str
    fault: bool = False
    style: str = "->>"  # Mermaid arrow: ->> sent, -x lost, -) duplicated


def _added(before: tuple[Any, ...], after: tuple[Any, ...]) -> list[Any]:
    c = Counter(after)
    c.subtract(Counter(before))
    return sorted(m for m, n in c.items() if n > 0)


def _prop(m: Proposal) -> str:
    reads = ",".join(f"b{b}@{q}" for b, q in m.reads)
    return f"n{m.need} prio {m.priority} reads {reads} epoch {m.epoch}"


def _reply(r: Reply) -> str:
    extra = " on " + ",".join(f"b{b}" for b in r.buckets) if r.buckets else ""
    return f"{REPLY_KINDS[r.kind]} n{r.need}{extra}"


def events(
    steps: Sequence[tuple[Action, State, State]], reasons: Sequence[str] = ()
) -> list[Event]:
    """One event per step (the diagram's rows), then the verdict."""
    out: list[Event] = []
    for i, (a, s, t) in enumerate(steps, 1):
        name = action_name(a)
        tag = f"{i}. {name}"
        if isinstance(a, Propose):
            new = _added(s.to_broker, t.to_broker)
            text = f"{tag} {_prop(new[0])}" if new else f"{tag} (no proposal sent)"
            out.append(Event(i, "arrow", f"W{a.w}", "B", text))
        elif isinstance(a, (Commit, Reject)):
            sent = _added(s.to_workers, t.to_workers)
            if sent:
                r = sent[0]
                out.append(
                    Event(i, "arrow", "B", f"W{r.worker}", f"{tag} {_prop(a.m)}: {_reply(r)}")
                )
            else:
                out.append(Event(i, "note", "B", "B", f"{tag} {_prop(a.m)} (no reply)"))
        elif isinstance(a, HandleReply):
            w = f"W{a.r.worker}"
            out.append(Event(i, "note", w, w, f"{tag} {_reply(a.r)}"))
        elif isinstance(a, (Drop, Duplicate)):
            m = a.m
            src, dst = (f"W{m.worker}", "B") if isinstance(m, Proposal) else ("B", f"W{m.worker}")
            what = f"proposal {_prop(m)}" if isinstance(m, Proposal) else _reply(m)
            style = "-x" if isinstance(a, Drop) else "-)"
            out.append(Event(i, "arrow", src, dst, f"FAULT {tag} {what}", True, style))
        elif isinstance(a, Crash):
            out.append(Event(i, "note", f"W{a.w}", f"W{a.w}", f"FAULT {tag}", True))
        elif isinstance(a, Failover):
            text = f"FAULT {tag} (epoch {s.broker.epoch} to {t.broker.epoch})"
            out.append(Event(i, "note", "B", "B", text, True))
        elif isinstance(a, StartCycle):
            cyc = t.workers[a.w].cycle
            out.append(Event(i, "note", f"W{a.w}", f"W{a.w}", f"{tag} (cycle {cyc})"))
        elif isinstance(a, Deliver):
            out.append(Event(i, "note", "B", "B", f"{tag} {_prop(a.m)} (received)"))
        elif isinstance(a, Refresh):
            out.append(Event(i, "note", f"W{a.w}", f"W{a.w}", f"{tag} p{a.p}"))
        elif isinstance(a, (Defer, Recover, Timeout, Restart)):
            out.append(Event(i, "note", f"W{a.w}", f"W{a.w}", tag))
        else:
            assert isinstance(a, Release)
            out.append(Event(i, "note", "B", "B", f"{tag} n{a.n}"))
    for r in reasons:
        out.append(Event(0, "note", "B", "B", f"VIOLATED {r}", True))
    return out


def participants(n_workers: int) -> list[tuple[str, str]]:
    return [*((f"W{i}", f"worker {i}") for i in range(n_workers)), ("B", "broker")]


def _mm(text: str) -> str:
    """Message text Mermaid reads literally (no statement breaks, entity codes for <>#)."""
    return (
        text.replace("#", "#35;")
        .replace(";", ",")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("\n", " ")
    )


def mermaid(n_workers: int, evs: Sequence[Event], title: str = "") -> str:
    """Mermaid ``sequenceDiagram`` text."""
    lines = ["sequenceDiagram"]
    if title:
        lines.append(f"    title {_mm(title)}")
    for pid, label in participants(n_workers):
        lines.append(f"    participant {pid} as {label}")
    for e in evs:
        body = (
            f"    {e.src}{e.style}{e.dst}: {_mm(e.text)}"
            if e.kind == "arrow"
            else f"    Note over {e.src}: {_mm(e.text)}"
        )
        if e.fault:
            lines += ["    rect rgb(255, 228, 225)", "    " + body, "    end"]
        else:
            lines.append(body)
    return "\n".join(lines) + "\n"


# --- SVG -----------------------------------------------------------------------------

_COL = 200  # px between lifelines
_ROW = 34  # px per event
_TOP = 60  # px above the first event
_CHAR = 6.6  # px per character, 12px monospace (an estimate for layout only)


def svg(n_workers: int, evs: Sequence[Event], title: str = "") -> str:
    """The diagram as a self-contained SVG document (no script, no external reference)."""
    parts = participants(n_workers)
    x = {pid: 90 + i * _COL for i, (pid, _) in enumerate(parts)}
    height = _TOP + _ROW * (len(evs) + 1) + 20
    width = 90 + _COL * (len(parts) - 1) + 90
    body: list[str] = []
    for pid, label in parts:
        cx = x[pid]
        body.append(
            f'<rect x="{cx - 60}" y="24" width="120" height="26" rx="4" fill="#eef" stroke="#446"/>'
        )
        body.append(f'<text x="{cx}" y="42" text-anchor="middle">{escape(label)}</text>')
        body.append(
            f'<line x1="{cx}" y1="50" x2="{cx}" y2="{height - 10}" stroke="#99a" '
            'stroke-dasharray="4 3"/>'
        )
    for k, e in enumerate(evs):
        y = _TOP + _ROW * (k + 1)
        colour = "#c00" if e.fault else "#222"
        text = escape(e.text)
        tw = len(e.text) * _CHAR
        if e.kind == "arrow":
            x1, x2 = x[e.src], x[e.dst]
            end = x2 - 8 if x2 > x1 else x2 + 8
            if e.style == "-x":  # lost: stops short with a cross
                end = (x1 + x2) // 2
            marker = "" if e.style == "-x" else ' marker-end="url(#head)"'
            dash = ' stroke-dasharray="6 3"' if e.style == "-)" else ""
            body.append(
                f'<line x1="{x1}" y1="{y}" x2="{end}" y2="{y}" stroke="{colour}" '
                f'stroke-width="1.5"{dash}{marker}/>'
            )
            if e.style == "-x":
                body.append(
                    f'<path d="M{end - 5},{y - 5} L{end + 5},{y + 5} M{end - 5},{y + 5} '
                    f'L{end + 5},{y - 5}" stroke="{colour}" stroke-width="2"/>'
                )
            tx = min(x1, x2) + 6
            body.append(f'<text x="{tx}" y="{y - 5}" fill="{colour}">{text}</text>')
            width = max(width, int(tx + tw + 20))
        else:
            cx = x[e.src]
            fill = "#fde" if e.fault else "#ffd"
            body.append(
                f'<rect x="{cx - 10}" y="{y - 16}" width="{int(tw + 16)}" height="22" '
                f'fill="{fill}" stroke="{colour}"/>'
            )
            body.append(f'<text x="{cx - 2}" y="{y}" fill="{colour}">{text}</text>')
            width = max(width, int(cx + tw + 26))
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="monospace" font-size="12">'
    )
    defs = (
        '<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        'markerHeight="8" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        'fill="#222"/></marker></defs>'
    )
    caption = f'<text x="10" y="14" font-weight="bold">{escape(title)}</text>' if title else ""
    return "\n".join([head, defs, caption, *body, "</svg>"]) + "\n"


def html(n_workers: int, evs: Sequence[Event], title: str, text: str) -> str:
    """One offline page: the SVG inline, the text rendering, the Mermaid source as text."""
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title></head><body>\n"
        f"<h1>{escape(title)}</h1>\n"
        f"{svg(n_workers, evs)}"
        f"<h2>Steps</h2>\n<pre>{escape(text)}</pre>\n"
        "<h2>Mermaid source</h2>\n"
        "<p>The same diagram as Mermaid text (paste it into any Mermaid renderer; "
        "this page draws the SVG above itself and loads no script).</p>\n"
        f"<pre>{escape(mermaid(n_workers, evs, title))}</pre>\n"
        "</body></html>\n"
    )


def of_trace(trace: Any, model: Any = None, property_ids: Sequence[str] = ()) -> list[Event]:
    """The events of a :class:`parsync.counterexample.Trace` (with why it fails, given a model)."""
    reasons = trace.rendered(model=model, property_ids=property_ids).reasons
    return events(trace.steps(), reasons)


def write_files(
    trace: Any,
    model: Any,
    property_ids: Sequence[str],
    title: str,
    *,
    mermaid_out: str | None = None,
    svg_out: str | None = None,
    html_out: str | None = None,
) -> None:
    """Write the requested diagram files; an OSError names the path that failed."""
    if not (mermaid_out or svg_out or html_out):
        return
    evs = of_trace(trace, model, property_ids)
    n = len(trace.init.workers)
    outputs: list[tuple[str | None, Callable[[], str]]] = [
        (mermaid_out, lambda: mermaid(n, evs, title)),
        (svg_out, lambda: svg(n, evs, title)),
        (
            html_out,
            lambda: html(n, evs, title, trace.render(model=model, property_ids=property_ids)),
        ),
    ]
    for path, make in outputs:
        if path:
            try:
                with open(path, "w", encoding="utf-8") as f:
                    f.write(make())
            except OSError as e:
                raise OSError(f"cannot write {path}: {e.strerror or e}") from None


def _content(m: Any) -> tuple[str, str, str]:
    """(sender, receiver, text) of a conformance message, by content (driver.Step args)."""
    if m[0] == "broker":
        _to, w, n, epoch, prio, reads = m
        rd = ",".join(f"b{b}@{q}" for b, q in reads)
        return f"W{w}", "B", f"proposal n{n} prio {prio} reads {rd} epoch {epoch}"
    _to, w, n, kind, buckets = m
    extra = " on " + ",".join(f"b{b}" for b in buckets) if buckets else ""
    return "B", f"W{w}", f"{kind} n{n}{extra}"


def step_events(steps: Sequence[Any], headline: str = "") -> list[Event]:
    """The events of a conformance interleaving (adapter steps: ``kind``, ``arg``).

    The adapter steps carry what was delivered, dropped or duplicated, not what a
    ``schedule`` sent, so sends show as notes and deliveries as arrows."""
    out: list[Event] = []
    for i, st in enumerate(steps, 1):
        kind, arg = st.kind, st.arg
        tag = f"{i}. {kind}"
        if kind in ("deliver", "drop", "duplicate"):
            src, dst, text = _content(arg)
            if kind == "deliver":
                out.append(Event(i, "arrow", src, dst, f"{tag} {text}"))
            else:
                style = "-x" if kind == "drop" else "-)"
                out.append(Event(i, "arrow", src, dst, f"FAULT {tag} {text}", True, style))
        elif kind in ("start_cycle", "schedule", "recover"):
            out.append(Event(i, "note", f"W{arg}", f"W{arg}", tag))
        elif kind == "crash":
            out.append(Event(i, "note", f"W{arg}", f"W{arg}", f"FAULT {tag}", True))
        elif kind == "failover":
            out.append(Event(i, "note", "B", "B", f"FAULT {tag}", True))
        elif kind == "release":
            out.append(Event(i, "note", "B", "B", f"{tag} n{arg}"))
        else:
            out.append(Event(i, "note", "B", "B", tag))
    if headline:
        out.append(Event(0, "note", "B", "B", f"FAILED {headline}", True))
    return out
