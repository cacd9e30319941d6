"""The adapter contract: how a scheduler implementation plugs into the suite.

An implementation package exposes a factory, by default named
``parsync_adapter``, that takes no arguments and returns an object with the
methods of :class:`Adapter`. The suite (never the implementation) chooses the
interleaving: it resets the scheduler for a config, then calls one step
method at a time and reads :meth:`Adapter.observe` after each. Every call must
return promptly (the suite enforces a per-step timeout) and be synchronous: by
the time it returns, the step has completely happened, even if the
implementation runs its broker and workers on threads.

Everything crossing the boundary is plain data (ints, strings, lists, dicts),
so an implementation never imports this project's model.

What is accepted depends on ``--parsync-policy``: ``contract`` (the default)
accepts every choice ADR-0031 leaves open, ``reference`` exactly the reference
scheduler's heuristics (docs/conformance.md, section 1a, states both in full).

Steps (each the implementation's counterpart of one model action):

=====================  ==========================================================
adapter call           model action
=====================  ==========================================================
``start_cycle(w)``     StartCycle(w): refresh partition ``cycle mod P``, take the
                       arrived needs; on a crashed worker, a cycle passes unseen.
                       Contract: at any time; a waiting worker abandons its
                       attempt (an early timeout: late replies are discarded)
``schedule(w)``        Propose(w, buckets) or Defer(w): contract: the worker
                       proposes any pending need on a bucket set that fits its
                       view, or defers any pending need; reference: the head
                       need, deferred only when nothing fits
``broker_step()``      Commit(m) (contract: or Reject(m)): the broker takes the
                       proposal of its choosing from its queue (every proposal
                       in flight to it) and decides on it; contract: any reply
                       true of it; the suite sees which from the observation
``deliver(id)``        HandleReply(r): the addressed worker takes reply ``id``
``release(n)``         Release(n): need ``n`` completes at the broker
``crash(w)``           Crash(w)
``recover(w)``         Recover(w): a fresh read of every partition; contract:
                       or Restart(w), up with nothing read
``drop(id)``           Drop(m): the network loses the message
``duplicate(id)``      Duplicate(m): the network delivers the message twice
``failover()``         Failover(): a new broker epoch from the durable state
=====================  ==========================================================

Contract: any worker step (``start_cycle``, ``schedule``, ``recover``, ``deliver``
of a reply to that worker) may also include fresh reads of any partitions,
before or after the step; these, and early timeouts, are not budgeted.

The observation (``observe()``) is a dict with these keys; the suite checks
its shape and reports a wrong one in one line:

``broker``
    ``epoch`` (int), ``seq`` (list of int, one per bucket), ``claims`` (list,
    one per bucket, of the need ids holding a claim there), ``ledger`` (list,
    one per need, of the buckets attributed to it).
``workers``
    one dict per worker. Required: ``up`` (bool), ``cycle`` (int),
    ``fresh_at`` (list of int per partition, -1 if not read since the start
    or a crash), ``view`` (per partition, the list of snapshots the worker
    holds; a snapshot is a list of ``[seq, used]`` per bucket of the partition,
    in increasing bucket order; a partition with no buckets has one empty
    snapshot ``[]``). Optional (leave a key out of every worker and it is
    hidden; give it and it is checked): ``mode`` ("latency-first" |
    "quality-first"; compared under reference only), ``pending`` (need ids
    still to place this cycle, head first; a set under the contract),
    ``waiting`` (bool: a proposal is outstanding), ``retries`` (int; compared
    under reference only).
``messages``
    the messages in flight, each a dict: ``id`` (str, unique while in flight;
    the handle passed to ``deliver``/``drop``/``duplicate``), ``to``
    ("broker" | "worker"), ``worker`` (int: proposer or addressee), ``need``
    (int), and for ``to == "broker"``: ``epoch`` (int), ``priority`` (int),
    ``reads`` (list of ``[bucket, seq]``, the seqno read for every bucket
    touched); for ``to == "worker"``: ``kind`` ("committed" | "conflict" |
    "already-placed" | "fenced") and ``buckets`` (conflicted buckets).

The config passed to ``reset`` is ``Config.to_dict()``: keys ``workers``,
``partitions``, ``capacities``, ``needs`` (``owner``, ``priority``,
``arrival``, ``gang``, ``size``, optional ``eligible``), ``retry_budget``,
``strategy``, ``max_cycle``, ``faults``, optional ``partition_map`` (otherwise
bucket ``b`` is in partition ``b mod P``).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

FACTORY_NAME = "parsync_adapter"

STEP_METHODS = (
    "reset",
    "start_cycle",
    "schedule",
    "broker_step",
    "deliver",
    "release",
    "crash",
    "recover",
    "drop",
    "duplicate",
    "failover",
    "observe",
    "close",
)


@runtime_checkable
class Adapter(Protocol):
    def reset(self, config: Mapping[str, Any]) -> None: ...

    def start_cycle(self, worker: int) -> None: ...

    def schedule(self, worker: int) -> None: ...

    def broker_step(self) -> None: ...

    def deliver(self, message_id: str) -> None: ...

    def release(self, need: int) -> None: ...

    def crash(self, worker: int) -> None: ...

    def recover(self, worker: int) -> None: ...

    def drop(self, message_id: str) -> None: ...

    def duplicate(self, message_id: str) -> None: ...

    def failover(self) -> None: ...

    def observe(self) -> Mapping[str, Any]: ...

    def close(self) -> None: ...


class AdapterError(Exception):
    """The implementation under test cannot be loaded or misbehaves (one line)."""


def load_adapter(target: str, timeout: float = 10.0) -> Adapter:
    """Import ``module[:factory]`` and call the factory, or start ``exec:COMMAND`` (an
    implementation in any language behind the pipe protocol, ``conformance/pipe.py``,
    whose replies must come within ``timeout`` seconds); one-line AdapterError on
    failure."""
    if target.startswith("exec:"):
        from parsync.conformance.pipe import ExecAdapter

        return ExecAdapter(target[len("exec:") :], timeout)  # type: ignore[return-value]
    module_name, _, factory_name = target.partition(":")
    factory_name = factory_name or FACTORY_NAME
    if not module_name:
        raise AdapterError("--parsync-impl needs a module name, e.g. --parsync-impl=mypkg")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name):
            raise AdapterError(f"cannot import implementation module {module_name!r}") from None
        raise AdapterError(f"importing {module_name!r} failed: missing module {e.name!r}") from None
    except Exception as e:  # the implementation's own import-time error
        raise AdapterError(f"importing {module_name!r} raised {type(e).__name__}: {e}") from None
    factory = getattr(module, factory_name, None)
    if factory is None:
        raise AdapterError(
            f"module {module_name!r} has no factory {factory_name!r} "
            f"(define `def {FACTORY_NAME}(): return MyAdapter()`)"
        )
    if not callable(factory):
        raise AdapterError(f"{module_name}.{factory_name} is not callable")
    try:
        adapter = factory()
    except Exception as e:
        raise AdapterError(
            f"{module_name}.{factory_name}() raised {type(e).__name__}: {e}"
        ) from None
    missing = [m for m in STEP_METHODS if not callable(getattr(adapter, m, None))]
    if missing:
        raise AdapterError(
            f"the adapter from {module_name}.{factory_name}() lacks method(s): {', '.join(missing)}"
        )
    return adapter  # type: ignore[no-any-return]
