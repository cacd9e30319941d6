"""Multi-process breadth-first search: ``parsync check --workers N``.

The state space is partitioned by fingerprint. Shard ``k`` of ``N`` processes
owns the states whose 64-bit fingerprint maps to ``k``: it holds their
fingerprints (the seen set) and expands them. The search is level-synchronous;
one BFS level is six steps, every shard doing each at once:

0. **rank**: every shard sends the others its frontier's BFS keys (below), so
   each knows every state's rank in the whole level;
1. **expand** the shard's frontier: successors, coverage, witnesses, action
   properties on every transition; each successor goes, by its fingerprint,
   into a batch for the shard that owns it (those this shard owns and has seen
   are dropped at once, a chunk of successors at a time);
2. **offer**: send each owner the fingerprints and BFS keys of the candidates
   it owns - integers only, never a state;
3. **decide**: each owner drops what it has seen and picks, per new
   fingerprint, the candidate with the least BFS key; it tells every shard
   which of its candidates won;
4. **ship**: only the winners travel, once each (about one state per
   distinct state, not one per transition);
5. **admit**: the owner adds the winners to its seen set and next frontier
   and checks the state properties on them.

**The same answer as one process.** Sequential BFS visits a level in the
lexicographic order of the paths by which it first reaches each state (the
initial state's index, then each step's index among its source's successors).
A state's *BFS key* stands for that path in 64 bits: at level 0 the initial
state's index, after that ``(rank of the source in its level) << 16 | index
of the step``, ordered as the paths are, because ranks are (step 0 computes
them). Keeping the least key per state, and reporting the violation with the
least key in the first level that has one, gives the distinct-state count,
verdict, counterexample and coverage of ``Checker`` - the same trace, step for
step, not only the same length (``tests/test_parallel.py`` compares them on
every preset and on failing variants). A failing run stops when the violating
level has been expanded, so its state and transition counts differ from the
sequential engine's, which stops at the violating step; pass or fail, nothing
else differs.

**Fingerprints, as TLC.** A shard's seen set (``FingerprintSet``) holds
unsigned 64-bit fingerprints in 256 sorted ``numpy`` arrays by top byte: 8
bytes a state, membership a vectorised binary search, a level's new ones
inserted once per level one part at a time (so merging never copies the whole
set). Two different states with one fingerprint would make the second look
seen: the result reports the probability of that for the run's state count,
``n * (n - 1) / 2**65`` (TLC's optimistic estimate). Fingerprints are Python's
tuple hash of the canonical state's value (ints and tuples only; see
``stable_hash`` for the one ``None``), mixed by a 64-bit odd multiplier: the
same in every process and every run of the same Python, so a checkpoint
written by one run is resumed by another.

**The frontier is encoded.** A state is a product of few distinct
components (the broker, each worker, the three bags - interned, shared by many
states - and the small ``faults`` and ``placed`` tuples). Each shard numbers
the components it meets in its own codebook, and holds its frontier (the level
being expanded and the next one) and its candidates as rows of ``W + 6``
``uint32`` codes (32 bytes a state at ``W = 2``) with a ``uint64`` key; a row
is decoded into a ``State`` only to be expanded or checked. Past
``frontier_memory`` bytes of rows in a level (default 256 MB per shard), the
rows go to a file in the run's spill directory (``spill_dir``, else the system's
temporary directory; a new directory, removed at the end, Ctrl-C included) and
are streamed back batch by batch when the level is expanded; the keys (8 bytes
a state) stay in memory. Between shards a state travels in the wire encoding
(``encode``: the same codes, per pair of shards).

**Counterexamples are re-executed.** Shard 0 writes every level's keys, in
order, to a trail file in its spill directory (8 bytes a state, on disk: the
rank of a state is its index there). A counterexample's path is read back from
the trail (each key names its source's rank in the level before) and
re-executed in the model from the initial state, so it is always a real path,
and its properties are re-evaluated on the replayed states.

``checkpoint=DIR`` saves the search at a level's end (each shard's seen set,
encoded frontier and codebook, shard 0's trail, and the counts);
``resume=DIR`` continues it, with any number of workers.
"""

from __future__ import annotations

import contextlib
import functools
import json
import multiprocessing as mp
import operator
import os
import pickle
import queue as queue_mod
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from parsync.counterexample import Trace
from parsync.engines.checker import Checker, CheckResult, Progress, Violation, finish
from parsync.model.actions import Propose
from parsync.model.properties import WITNESSES, witness_applicable
from parsync.model.protocol import ParSyncModel
from parsync.model.state import Broker, State

M64 = (1 << 64) - 1
# a BFS key is an int: a leading 1, then 16 bits per step (the initial state's index, then
# each step's index among its source's successors); keys of one level have one length, so
# comparing them as ints is comparing the paths lexicographically
_STEP_BITS = 16
_STEP_MASK = (1 << _STEP_BITS) - 1
_MIX = 0x9E3779B97F4A7C15  # 2**64 / golden ratio, odd: a bijection on 64-bit words


def fingerprint(key: object) -> int:
    """The 64-bit fingerprint of a hashable value."""
    return ((hash(key) & M64) * _MIX) & M64


def stable_hash(x: object) -> int:
    """``hash`` of a state component, the same in every interpreter run.

    Python hashes ints and tuples of them the same way in every run (only ``str`` and
    ``bytes`` are salted), but in 3.11 ``hash(None)`` is the object's address; the
    one ``None`` of a state, a broker's absent replica, is hashed as ``-1`` (a replica
    is otherwise a 4-tuple, so nothing else hashes alike). A checkpoint written by
    one run is resumed by another, so fingerprints must not depend on addresses.
    """
    if type(x) is Broker and x.replica is None:
        return hash((x.epoch, x.seq, x.claims, x.ledger, x.status, -1, x.tags))
    return hash(x)


def value_fingerprint(t: State) -> int:
    """The fingerprint of a state's value (what ``_Shard.fp`` computes, uncached).

    The broker's inbox (contract) enters the hash only when it is not empty, so a
    state with an empty inbox (every reference state) keeps the fingerprint it had
    before the inbox existed."""
    hs = (
        stable_hash(t.broker),
        *[hash(w) for w in t.workers],
        hash(t.to_broker),
        hash(t.to_workers),
    )
    if t.inbox:
        return (((hash((hs, t.faults, t.placed, hash(t.inbox)))) & M64) * _MIX) & M64
    return (((hash((hs, t.faults, t.placed))) & M64) * _MIX) & M64


_BROKER = operator.attrgetter("broker")
_WORKERS = operator.attrgetter("workers")
_TO_BROKER = operator.attrgetter("to_broker")
_TO_WORKERS = operator.attrgetter("to_workers")
_FAULTS = operator.attrgetter("faults")
_PLACED = operator.attrgetter("placed")
_INBOX = operator.attrgetter("inbox")
_MAKE_STATE = functools.partial(tuple.__new__, State)  # a State from a 7-tuple, in C


def _columns(states: list[State], w: int) -> list[list[Any]]:
    """The states' components, column by column (broker, each worker, to_broker,
    to_workers, faults, placed, inbox): ``W + 6`` lists, built by C loops (``map``)."""
    ws = list(map(_WORKERS, states))
    return [
        list(map(_BROKER, states)),
        *[list(map(operator.itemgetter(i), ws)) for i in range(w)],
        list(map(_TO_BROKER, states)),
        list(map(_TO_WORKERS, states)),
        list(map(_FAULTS, states)),
        list(map(_PLACED, states)),
        list(map(_INBOX, states)),
    ]


def _component_codes(
    states: list[State],
    w: int,
    book: dict[object, int],
    keep: list[object],
    by_value: bytearray,
) -> np.ndarray:
    """The states as rows of ``W + 6`` uint32 component codes in ``book``.

    Interned components are keyed by identity (``keep`` holds every one coded, so an
    id is never reused while the shard runs), the two counter tuples (``faults``,
    ``placed``: columns ``W + 3`` and ``W + 4``) by value; a component not yet in
    ``book`` gets the next code, is appended to ``keep``, and ``by_value`` records
    how it is keyed (1: by value). Column by column, the look-ups in C (``map``).
    """
    width = w + 6
    if not states:
        return np.empty((0, width), dtype=np.uint32)
    get = book.get
    out = []
    for col, x in enumerate(_columns(states, w)):
        value = col in (w + 3, w + 4)
        keys = x if value else list(map(id, x))
        codes = list(map(get, keys))
        if None in codes:
            for i, c in enumerate(codes):
                if c is None:
                    c = get(keys[i])
                    if c is None:
                        c = book[keys[i]] = len(keep)
                        keep.append(x[i])
                        by_value.append(value)
                    codes[i] = c
        out.append(codes)
    return np.ascontiguousarray(np.array(out, dtype=np.uint32).T)


def _decode_rows(codes: np.ndarray, comp: list[object], w: int) -> list[State]:
    """The states of rows of component codes into ``comp`` (column by column, in C)."""
    if not len(codes):
        return []
    at = comp.__getitem__
    cols = [list(map(at, col)) for col in codes.T.tolist()]
    return list(
        map(
            _MAKE_STATE,
            zip(cols[0], zip(*cols[1 : 1 + w], strict=True), *cols[1 + w :], strict=True),
        )
    )


def _queued_seconds() -> float:
    """Seconds this thread has spent runnable but not running (other processes held the
    cores), from Linux's ``/proc/thread-self/schedstat``; 0 where that is not available.
    On a shared machine it tells a shard's lost time apart from its own work."""
    try:
        with open("/proc/thread-self/schedstat", encoding="ascii") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, ValueError, IndexError):
        return 0.0


def collision_probability(states: int) -> float:
    """TLC's optimistic estimate that two of ``states`` distinct states share a fingerprint."""
    return states * (states - 1) / 2.0**65


# 3: a state's codes gained the broker's inbox (``W + 6`` a state; 2 had ``W + 6``)
CHECKPOINT_FORMAT = "parsync-checkpoint/3"
# bytes of encoded frontier states a shard keeps in memory per level before it spills them
DEFAULT_FRONTIER_MEMORY = 256 << 20


class CheckpointError(ValueError):
    """A checkpoint directory that cannot be written, or read back for this scope (one line)."""


class ShardError(RuntimeError):
    """A shard process failed or died; the message (one line) says which and why.

    ``detail`` holds the shard's whole traceback when it raised.
    """

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(message)
        self.detail = detail


class FingerprintSet:
    """A shard's seen set: 64-bit fingerprints, 8 bytes each, in 256 sorted ``numpy`` arrays
    by their top byte (fingerprints are uniform, so the parts are about equal).

    Membership is a vectorised binary search per part; adding a level's new fingerprints
    rewrites each part once (``np.insert``), so the transient copy is one part (1/256 of
    the set), never the whole set. The parts in order are the whole set sorted.
    """

    def __init__(self, fps: np.ndarray | None = None) -> None:
        self.parts = [np.empty(0, dtype=np.uint64) for _ in range(256)]
        if fps is not None and len(fps):
            self.add(fps)

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    @staticmethod
    def _bounds(s: np.ndarray) -> list[int]:
        tops = s >> np.uint64(56)
        return np.searchsorted(tops, np.arange(257, dtype=np.uint64)).tolist()  # type: ignore[no-any-return]

    def contains(self, fps: np.ndarray) -> np.ndarray:
        """A boolean mask: which of ``fps`` are in the set."""
        hit = np.zeros(len(fps), dtype=bool)
        if not len(fps):
            return hit
        order = np.argsort(fps, kind="stable")
        s = fps[order]
        b = self._bounds(s)
        for t in range(256):
            lo, hi = b[t], b[t + 1]
            p = self.parts[t]
            if lo == hi or not len(p):
                continue
            q = s[lo:hi]
            pos = np.minimum(np.searchsorted(p, q), len(p) - 1)
            hit[order[lo:hi]] = p[pos] == q
        return hit

    def add(self, fps: np.ndarray) -> None:
        """Add distinct fingerprints not in the set yet."""
        s = np.sort(fps)
        b = self._bounds(s)
        for t in range(256):
            lo, hi = b[t], b[t + 1]
            if lo < hi:
                p, q = self.parts[t], s[lo:hi]
                self.parts[t] = np.insert(p, np.searchsorted(p, q), q)

    def array(self) -> np.ndarray:
        """The whole set, sorted (a copy)."""
        return np.concatenate(self.parts)


class _Frontier:
    """One BFS level of a shard: encoded states (``W + 6`` uint32 codes into the shard's
    codebook, one row a state) in batches, with their BFS keys (uint64, kept in memory).

    When the batches in memory exceed ``bound`` bytes they are written to a file in
    ``where()`` (the run's spill directory) and read back, batch by batch, when the level
    is expanded. The order of the batches does not matter (the least key is chosen
    explicitly).
    """

    def __init__(self, width: int, bound: int, where: Callable[[], Path], name: str) -> None:
        self.width = width
        self.bound = bound
        self.where = where
        self.name = name
        self.keys: list[np.ndarray] = []
        self.batches: list[np.ndarray | tuple[int, int]] = []  # in memory, or (offset, rows)
        self.rows = 0
        self.mem = 0  # bytes of codes in memory
        self.path: Path | None = None
        self.spilled = 0  # rows written to the file

    def add(self, keys: np.ndarray, codes: np.ndarray) -> None:
        if not len(keys):
            return
        self.keys.append(keys)
        self.batches.append(codes)
        self.rows += len(keys)
        self.mem += codes.nbytes
        if self.mem > self.bound:
            self._spill()

    def _spill(self) -> None:
        if self.path is None:
            self.path = self.where() / self.name
        with open(self.path, "ab") as f:
            for i, b in enumerate(self.batches):
                if isinstance(b, np.ndarray):
                    self.batches[i] = (f.tell(), len(b))
                    f.write(np.ascontiguousarray(b).tobytes())
                    self.mem -= b.nbytes
                    self.spilled += len(b)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for keys, b in zip(self.keys, self.batches, strict=True):
            if isinstance(b, np.ndarray):
                yield keys, b
            else:
                assert self.path is not None
                off, rows = b
                flat = np.fromfile(self.path, dtype=np.uint32, count=rows * self.width, offset=off)
                yield keys, flat.reshape(rows, self.width)

    def all_keys(self) -> np.ndarray:
        return np.concatenate(self.keys) if self.keys else np.empty(0, dtype=np.uint64)

    def close(self) -> None:
        """Drop the level (and its file)."""
        self.keys, self.batches, self.rows, self.mem = [], [], 0, 0
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            self.path = None


@dataclass
class _Level:
    """What a shard reports at the end of a level."""

    new: int  # states admitted into the next frontier
    transitions: int
    by_type: dict[str, int]
    witnesses: list[str]
    # the violation with the least key found in this level, if any:
    # (key, kind, property ids); kind 0 = on a transition, 1 = on a new state
    violation: tuple[int, int, tuple[str, ...]] | None
    seconds: dict[str, float]  # this level's time per step, and waiting on the others
    wire: tuple[int, ...] = (0, 0)  # states this shard shipped to others, and their bytes
    spilled: int = 0  # states of the next frontier this shard wrote to its spill file
    # the level was given up part-way (Ctrl-C): the shard is as it was before the level
    abandoned: bool = False


@dataclass
class _Run:
    """The coordinator's running totals (what a checkpoint records)."""

    states: int
    by_type: dict[type, int]
    witnesses: dict[str, bool | None]
    transitions: int = 0
    depth: int = 0
    stop_reason: str = ""
    violation: Violation | None = None
    last_save: float = 0.0


_CHUNK = 16_384  # successors filtered (seen set, duplicates) and encoded together
_ROWS = 4_096  # frontier states decoded together
_EMPTY = np.empty(0, dtype=np.uint64)
_ABANDON = "abandon"  # an offer that says: this level is given up (by every shard)


class _Abandoned(Exception):
    """Raised inside ``expand`` when the run is stopping: the level is given up."""


def _least_per_fp(fps: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Indices of the candidate with the least key per fingerprint, in fingerprint order."""
    order = np.lexsort((keys, fps))
    f = fps[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = f[1:] != f[:-1]
    return order[first]


class _Shard:
    """One shard's part of the search, whatever carries its messages.

    A level is five calls, each shard making each at once: ``begin`` (returns this
    shard's frontier keys for every other shard), ``expand`` (takes the others' keys,
    returns the offers for every other shard), ``decide`` (takes the offers made to it,
    returns which of each shard's candidates won), ``pack`` (takes what won here, returns
    the encoded states for each owner) and ``admit`` (takes the states shipped to it,
    returns the level's ``_Level``). ``_QueueShard`` moves the payloads between
    processes through queues; ``parsync.engines.ray_backend`` between Ray actors.
    A payload for shard ``j`` is ``None`` when there is nothing to send.
    """

    def __init__(
        self,
        k: int,
        n: int,
        model: ParSyncModel,
        symmetry: bool,
        inits: list[State],
        resume: tuple[str, str, int, list[str]] | None = None,
        spill: str | None = None,
        frontier_memory: int = DEFAULT_FRONTIER_MEMORY,
    ) -> None:
        self.k = k
        self.n = n
        self.m = model
        self.ev = Checker(model, symmetry=symmetry)
        sym = self.ev.sym
        self.sym = sym if sym is not None and not sym.trivial else None
        # fingerprints hash values, never identities (model.state_key is a tuple of ids,
        # which differ between processes): per interned component, its value's hash
        self._vh: dict[int, int] = {}
        self._alive: list[object] = []
        # under symmetry, the fingerprint of the orbit per state key (as Symmetry memoises)
        self._orbit: dict[tuple[object, ...], int] = {}
        # this shard's own codebook, for its frontier and candidates (``_codes``/``_states``):
        # component -> code, code -> component, and per code whether it is keyed by value
        self._lbook: dict[object, int] = {}
        self._lcomp: list[object] = []
        self._lvalue = bytearray()
        # the wire codebooks (``pack``/``_unpack``): per peer, the wire code of each local
        # code sent to it (-1: not yet) and how many it has; the local code of each wire
        # code received from it
        self._l2w: list[np.ndarray] = [np.empty(0, dtype=np.int64) for _ in range(n)]
        self._sent = [0] * n
        self._w2l: list[list[int]] = [[] for _ in range(n)]
        self.width = model.W + 6
        self._wire = [0, 0]  # states and bytes shipped this level
        self._sec: dict[str, float] = {}
        self.waited = 0.0  # time spent blocked on the other shards (set by the transport)
        self._cpu0 = 0.0  # the process's CPU time when the level began
        self._queued0 = 0.0  # and its time runnable but not running (``_queued_seconds``)
        # candidates per owner: (fingerprints, keys, codes), sorted by fingerprint
        self._cand: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._own: tuple[np.ndarray, np.ndarray] = (_EMPTY, self._no_codes())
        self._remote: dict[int, np.ndarray] = {}  # keys of the winners to be shipped here
        self._counts: dict[type, int] = {}
        self._found: list[str] = []
        self._transitions = 0
        self._best: tuple[int, int, tuple[str, ...]] | None = None
        self._todo_next: list[Any] = []  # the witnesses left to find, once the level counts
        self._spill_base = spill
        self._dir: Path | None = None
        self._made_dir = False
        self.frontier_memory = frontier_memory
        self._serial = 0
        # shard 0 keeps the trail: per level, every shard's keys sorted (the rank of a
        # state in its level is its index there), on disk; counterexamples walk it back
        self._trail: list[tuple[int, int]] = []  # per level: (offset, count) in trail.bin
        self.seen = FingerprintSet()
        self.front = self._new_frontier()
        todo = [w for w in WITNESSES if witness_applicable(model, w)]
        self.witnesses_todo = todo
        self.level = 0
        if resume is not None:
            self._load(*resume)
            return
        fps, keys, mine = [], [], []
        for i, s0 in enumerate(inits):
            s0 = self.interned(s0)
            fp = self.fp(s0)
            if self.owner(fp) == k:
                keys.append(i)  # level 0: a state's key is its index among the initial states
                mine.append(s0)
                fps.append(fp)
        self.front.add(np.array(keys, dtype=np.uint64), self._codes(mine))
        self.seen.add(np.array(fps, dtype=np.uint64))

    # --- where the spill files go -----------------------------------------------------
    def where(self) -> Path:
        """This shard's spill directory (made on first use): ``shard-K`` in the run's spill
        directory, else a new temporary directory."""
        if self._dir is None:
            if self._spill_base is not None:
                self._dir = Path(self._spill_base) / f"shard-{self.k}"
                self._dir.mkdir(parents=True, exist_ok=True)
            else:
                self._dir = Path(tempfile.mkdtemp(prefix=f"parsync-shard{self.k}-"))
            self._made_dir = True
        return self._dir

    def cleanup(self) -> None:
        """Remove this shard's spill files (and the run's directory, once empty)."""
        self.front.close()
        if self._dir is not None and self._made_dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            if self._spill_base is not None:
                with contextlib.suppress(OSError):
                    os.rmdir(self._spill_base)  # gone or not empty: another shard's is there
            self._dir = None
        self._trail = []

    def _new_frontier(self) -> _Frontier:
        self._serial += 1
        return _Frontier(
            self.width, self.frontier_memory, self.where, f"frontier-{self._serial}.bin"
        )

    def _no_codes(self) -> np.ndarray:
        return np.empty((0, self.width), dtype=np.uint32)

    def frontier_size(self) -> int:
        return self.front.rows

    # --- the trail (shard 0): each level's keys in order ------------------------------
    def _trail_add(self, keys: np.ndarray) -> None:
        path = self.where() / "trail.bin"
        with open(path, "ab") as f:
            self._trail.append((f.tell(), len(keys)))
            f.write(keys.astype(np.uint64).tobytes())

    def _trail_level(self, d: int, at: int | None = None) -> np.ndarray:
        off, count = self._trail[d]
        path = self.where() / "trail.bin"
        if at is None:
            return np.fromfile(path, dtype=np.uint64, count=count, offset=off)
        assert 0 <= at < count, (d, at, count)
        return np.fromfile(path, dtype=np.uint64, count=1, offset=off + 8 * at)

    def path(self, key: int, level: int) -> list[int]:
        """The successor indices of the path whose key at ``level`` is ``key`` (shard 0):
        the initial state's index first."""
        steps = [key & _STEP_MASK]
        rank = key >> _STEP_BITS
        for d in range(level, 0, -1):
            kd = int(self._trail_level(d, rank)[0])
            steps.append(kd & _STEP_MASK)
            rank = kd >> _STEP_BITS
        steps.append(int(self._trail_level(0, rank)[0]))
        steps.reverse()
        return steps

    # --- checkpoint and resume ------------------------------------------------------
    def save(self, where: str, tag: str) -> None:
        """This shard's seen set, frontier and (shard 0) trail, written atomically (rename):
        one pickle stream - a header, then the frontier batch by batch, then the trail
        level by level, so a spilled frontier is never all in memory."""
        path = Path(where) / f"shard-{self.k}-{tag}.pickle"
        tmp = path.with_suffix(".tmp")
        hp = pickle.HIGHEST_PROTOCOL
        with open(tmp, "wb") as f:
            head = {
                "seen": self.seen.array(),
                "level": self.level,
                "width": self.width,
                "components": self._lcomp,
                "batches": len(self.front.batches),
                "trail": len(self._trail),
            }
            pickle.dump(head, f, hp)
            for batch in self.front:
                pickle.dump(batch, f, hp)
            for d in range(len(self._trail)):
                pickle.dump(self._trail_level(d), f, hp)
        os.replace(tmp, path)

    def _load(self, where: str, tag: str, old_n: int, found: list[str]) -> None:
        """Take, from every shard file of a checkpoint, what this shard owns now (the
        worker count may differ from the run that wrote it); shard 0 takes the trail."""
        n, k = np.uint64(self.n), np.uint64(self.k)
        w = self.width - 6
        parts = []
        for j in range(old_n):
            with open(Path(where) / f"shard-{j}-{tag}.pickle", "rb") as f:
                head = pickle.load(f)
                fps = head["seen"]
                parts.append(fps[((fps >> np.uint64(32)) % n) == k])
                comp = [self.m.intern(x) for x in head["components"]]
                for _ in range(head["batches"]):
                    keys, codes = pickle.load(f)
                    mine_k, mine = [], []
                    for key, c in zip(keys.tolist(), codes.tolist(), strict=True):
                        st = State(
                            comp[c[0]],
                            tuple(comp[i] for i in c[1 : 1 + w]),
                            comp[c[1 + w]],
                            comp[c[2 + w]],
                            comp[c[3 + w]],
                            comp[c[4 + w]],
                            comp[c[5 + w]],
                        )
                        if self.owner(self.fp(st)) == self.k:
                            mine_k.append(key)
                            mine.append(st)
                    self.front.add(np.array(mine_k, dtype=np.uint64), self._codes(mine))
                for _ in range(head["trail"]):
                    keys = pickle.load(f)
                    if self.k == 0:
                        self._trail_add(keys)
            self.level = head["level"]
        self.seen = FingerprintSet(np.concatenate(parts) if parts else None)
        self.witnesses_todo = [w for w in self.witnesses_todo if w.id not in found]

    def interned(self, s: State) -> State:
        """``s`` with this process's canonical components (a shipped state arrives as copies)."""
        i = self.m.intern
        return State(
            i(s.broker),
            tuple(i(w) for w in s.workers),
            i(s.to_broker),
            i(s.to_workers),
            s.faults,
            s.placed,
            i(s.inbox),
        )

    def fp(self, t: State) -> int:
        """The fingerprint of ``t``'s canonical form; ``t``'s components are interned."""
        if self.sym is not None:
            k = self.m.state_key(t)
            got = self._orbit.get(k)
            if got is None:
                got = self._orbit[k] = value_fingerprint(self.sym.canonical(t))
            return got
        vh = self._vh
        try:
            hs = (
                vh[id(t.broker)],
                *[vh[id(w)] for w in t.workers],
                vh[id(t.to_broker)],
                vh[id(t.to_workers)],
            )
        except KeyError:
            for x in (t.broker, *t.workers, t.to_broker, t.to_workers):
                if id(x) not in vh:
                    # kept alive here, so its id is never another object's while the
                    # shard runs: the id alone then stands for the value
                    self._alive.append(x)
                    vh[id(x)] = stable_hash(x)
            return self.fp(t)
        if t.inbox:
            ib = vh.get(id(t.inbox))
            if ib is None:
                self._alive.append(t.inbox)
                ib = vh[id(t.inbox)] = hash(t.inbox)
            return (((hash((hs, t.faults, t.placed, ib))) & M64) * _MIX) & M64
        return (((hash((hs, t.faults, t.placed))) & M64) * _MIX) & M64

    def _hashes(self, col: list[Any]) -> list[int]:
        """``stable_hash`` of each interned component of ``col``, memoised by identity."""
        vh = self._vh
        got: list[Any] = list(map(vh.get, map(id, col)))
        if None in got:
            for i, h in enumerate(got):
                if h is None:
                    x = col[i]
                    h = vh.get(id(x))
                    if h is None:
                        # kept alive here, so its id is never another object's while the
                        # shard runs: the id alone then stands for the value
                        self._alive.append(x)
                        h = vh[id(x)] = stable_hash(x)
                    got[i] = h
        return got

    def fps(self, states: list[State]) -> np.ndarray:
        """``fp`` of each state (uint64), column by column: the same values, the per-state
        work in C loops (``map``, ``zip``) and the 64-bit mixing in ``numpy``."""
        if self.sym is not None:
            return np.array(list(map(self.fp, states)), dtype=np.uint64)
        if not states:
            return _EMPTY
        cols = _columns(states, self.width - 6)
        w = self.width - 6
        hs = zip(*map(self._hashes, cols[: 3 + w]), strict=True)  # broker, workers, the two bags
        faults, placed, inbox = cols[3 + w :]
        if any(inbox):
            ibh = self._hashes(inbox)
            h = [
                hash((x, f, p, b)) if ib else hash((x, f, p))
                for x, f, p, ib, b in zip(hs, faults, placed, inbox, ibh, strict=True)
            ]
        else:
            h = list(map(hash, zip(hs, faults, placed, strict=True)))
        return np.array(h, dtype=np.int64).view(np.uint64) * np.uint64(_MIX)

    def owner(self, fp: int) -> int:
        return (fp >> 32) % self.n

    # --- the wire encoding ------------------------------------------------------------
    def _ship(self, to: int, codes: np.ndarray) -> bytes:
        """Rows of this shard's codes, for shard ``to``, compactly.

        A state is a product of few distinct components (the broker, each worker,
        the three bags - interned, shared by many states - and the small ``faults`` and
        ``placed`` tuples). Each component travels once per pair of shards, the first
        time it is shipped; afterwards a state is its ``W + 6`` codes, packed as uint16
        (uint32 past 65,536 components). Both ends number the components in the order
        sent, and one pair's batches arrive in order, so the codebooks agree. The local
        codes are translated to the pair's wire codes by array indexing (no ``State``
        is built).
        """
        l2w = self._l2w[to]
        if len(l2w) < len(self._lcomp):
            grown = np.full(len(self._lcomp), -1, dtype=np.int64)
            grown[: len(l2w)] = l2w
            l2w = self._l2w[to] = grown
        u = np.unique(codes)
        miss = u[l2w[u] < 0]
        l2w[miss] = np.arange(self._sent[to], self._sent[to] + len(miss))
        self._sent[to] += len(miss)
        lcomp = self._lcomp
        new = [lcomp[c] for c in miss.tolist()]
        value = np.frombuffer(bytes(self._lvalue), dtype=np.uint8)[miss].tobytes()
        dtype = np.uint16 if self._sent[to] <= 1 << 16 else np.uint32
        width = self.width if len(codes) else 0
        raw = l2w[codes].astype(dtype).tobytes()
        data = pickle.dumps((width, np.dtype(dtype).str, raw, new, value), pickle.HIGHEST_PROTOCOL)
        self._wire[0] += len(codes)
        self._wire[1] += len(data)
        return data

    def _unpack(self, frm: int, data: bytes) -> np.ndarray:
        """The rows ``_ship`` packed in shard ``frm``, as this shard's codes (each new
        component interned, and coded here, once, on arrival)."""
        width, dtype, raw, new, value = pickle.loads(data)
        if not width:
            return self._no_codes()
        w2l, book, lcomp, lvalue = self._w2l[frm], self._lbook, self._lcomp, self._lvalue
        intern = self.m.intern
        for x, v in zip(new, value, strict=True):
            if not v:
                x = intern(x)
            key = x if v else id(x)
            c = book.get(key)
            if c is None:
                c = book[key] = len(lcomp)
                lcomp.append(x)
                lvalue.append(v)
            w2l.append(c)
        table = np.array(w2l, dtype=np.uint32)
        return table[np.frombuffer(raw, dtype=dtype).reshape(-1, width)]

    # --- this shard's own encoding: the frontier and the candidates -------------------
    def _codes(self, states: list[State]) -> np.ndarray:
        """``states`` as rows of ``W + 6`` uint32 codes into this shard's codebook
        (interned components by identity - the codebook keeps them alive - and the two
        counter tuples by value)."""
        return _component_codes(states, self.width - 6, self._lbook, self._lcomp, self._lvalue)

    def _states(self, codes: np.ndarray) -> list[State]:
        """The states of rows of ``_codes``."""
        return _decode_rows(codes, self._lcomp, self.width - 6)

    @staticmethod
    def _rows(front: _Frontier) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """A frontier's keys and codes, ``_ROWS`` states at a time (decoded ``State``
        objects are short-lived: a whole batch of them at once would raise the peak)."""
        for keys, codes in front:
            for lo in range(0, len(keys), _ROWS):
                yield keys[lo : lo + _ROWS], codes[lo : lo + _ROWS]

    # --- giving a level up (Ctrl-C) ---------------------------------------------------
    def stopping(self) -> bool:
        """Whether the run asked to stop now (polled in ``expand``, a chunk at a time);
        only a transport that can say so mid-call overrides it (``_QueueShard``)."""
        return False

    def _give_up(self) -> None:
        """Undo the level under way: its trail entry (shard 0) and its candidates. The
        seen set and the frontier are untouched until ``decide``, so the shard is as it
        was before the level, and a checkpoint of it resumes with that level."""
        if self.k == 0 and len(self._trail) > self.level:
            off, _count = self._trail.pop()
            with open(self.where() / "trail.bin", "r+b") as f:
                f.truncate(off)
        self._cand = []

    def abandoned_level(self) -> _Level:
        """The report of a level given up."""
        return _Level(0, 0, {}, [], None, dict(self._sec), abandoned=True)

    # --- one level, in five calls ---------------------------------------------------
    def begin(self) -> list[Any]:
        """Step 0: this shard's frontier keys, for every other shard (each shard ranks its
        states in the whole level: a state's rank is the number of states of the level,
        in every shard, with a smaller key)."""
        self.waited = 0.0
        self._cpu0 = time.process_time()
        self._queued0 = _queued_seconds()
        self._wire = [0, 0]
        self._sec = {"expand": 0.0, "exchange": 0.0}
        keys = self.front.all_keys()
        return [None if j == self.k else keys for j in range(self.n)]

    def expand(self, keys: dict[int, Any]) -> list[Any]:
        """Step 1: successors of the frontier, filed by owner; returns the offers (step 2),
        per shard: its candidates' fingerprints and least keys (uint64 each).

        A successor's key is its source's rank in the level, shifted, plus its index among
        the source's successors: 64 bits at any depth, and ordered as the whole path is,
        since ranks are. Successors are filtered and encoded a chunk at a time: those this
        shard owns and has seen are dropped at once, and of a fingerprint found twice only
        the least key is kept."""
        m, ev, n, k = self.m, self.ev, self.n, self.k
        clock = time.perf_counter
        t_start = clock()
        level = np.sort(np.concatenate([self.front.all_keys(), *keys.values()]))
        if k == 0:
            assert len(self._trail) == self.level, (len(self._trail), self.level)
            self._trail_add(level)
        counts: dict[type, int] = dict.fromkeys(m.action_types, 0)
        found: list[str] = []
        todo = self.witnesses_todo
        transitions = 0
        best: tuple[int, int, tuple[str, ...]] | None = None
        parts: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in range(n)]
        ck: list[int] = []
        ct: list[State] = []

        def flush() -> None:
            # the chunk's fingerprints and owners at once; per owner, the least key per
            # fingerprint (and, for this shard's own, only those not seen before), encoded
            if self.stopping():
                raise _Abandoned
            if not ct:
                return
            f_all = self.fps(ct)
            k_all = np.array(ck, dtype=np.uint64)
            owners = (f_all >> np.uint64(32)) % np.uint64(n) if n > 1 else None
            for j in range(n):
                at = None if owners is None else np.flatnonzero(owners == j)
                f = f_all if at is None else f_all[at]
                if not len(f):
                    continue
                kk = k_all if at is None else k_all[at]
                sel = _least_per_fp(f, kk)
                if j == k:
                    sel = sel[~self.seen.contains(f[sel])]
                pick = sel if at is None else at[sel]
                ts = list(map(ct.__getitem__, pick.tolist()))
                parts[j].append((f[sel], kk[sel], self._codes(ts)))
            ck.clear()
            ct.clear()

        succ = m.successors
        pending = 0
        try:
            for fkeys, codes in self._rows(self.front):
                ranks = np.searchsorted(level, fkeys).tolist()
                for rank, s in zip(ranks, self._states(codes), strict=True):
                    base = rank << _STEP_BITS
                    idx = -1
                    for idx, (a, t) in enumerate(succ(s)):
                        transitions += 1
                        counts[type(a)] += 1
                        if todo:
                            hit = [w for w in todo if w.action_pred(m, s, a, t)]  # type: ignore[misc]
                            if hit:
                                found.extend(w.id for w in hit)
                                todo = [w for w in todo if w not in hit]
                        if t.broker is not s.broker or type(a) is Propose:
                            abad = ev.action_violations(s, a, t)
                            if abad and (best is None or (base | idx, 0) < (best[0], best[1])):
                                more = [i for i in ev.state_violations(t) if i not in abad]
                                best = (base | idx, 0, (*abad, *more))
                        ck.append(base | idx)
                        ct.append(t)
                    if idx > _STEP_MASK:
                        raise ValueError(
                            f"a state with {idx + 1} successors: keys hold {_STEP_MASK + 1}"
                        )
                    pending += idx + 1
                    if pending >= _CHUNK:
                        flush()
                        pending = 0
                flush()
        except _Abandoned:
            self._give_up()
            return [_ABANDON] * n  # its own entry too: the transport reads it
        self._todo_next = todo
        cand = []
        for j in range(n):
            if not parts[j]:
                cand.append((_EMPTY, _EMPTY, self._no_codes()))
                continue
            f = np.concatenate([p[0] for p in parts[j]])
            kk = np.concatenate([p[1] for p in parts[j]])
            cc = np.concatenate([p[2] for p in parts[j]])
            parts[j] = []
            sel = _least_per_fp(f, kk)
            cand.append((f[sel], kk[sel], cc[sel]))
        self._cand, self._counts, self._found = cand, counts, found
        self._transitions, self._best = transitions, best
        offers: list[Any] = [None if j == k else cand[j][:2] for j in range(n)]
        self._sec["expand"] += clock() - t_start
        return offers

    def decide(self, offers: dict[int, Any]) -> list[Any]:
        """Step 3: given the other shards' offers, the unseen fingerprints with the least
        key each, added to the seen set; returns, per shard, which of its candidates won."""
        t0 = time.perf_counter()
        n, k = self.n, self.k
        # the level counts from here on: its frontier is done with
        self.front.close()
        self.witnesses_todo = self._todo_next
        own_f, own_k, own_c = self._cand[k]
        fl, kl, sl = [own_f], [own_k], [np.full(len(own_f), k, dtype=np.int32)]
        for frm, (fps, keys) in offers.items():
            new = ~self.seen.contains(fps)
            fl.append(fps[new])
            kl.append(keys[new])
            sl.append(np.full(int(new.sum()), frm, dtype=np.int32))
        f, kk, src = np.concatenate(fl), np.concatenate(kl), np.concatenate(sl)
        sel = _least_per_fp(f, kk)
        f, kk, src = f[sel], kk[sel], src[sel]
        self.seen.add(f)
        out: list[Any] = [None] * n
        self._remote = {}
        for j in range(n):
            mine = src == j
            if j == k:
                pos = np.searchsorted(own_f, f[mine])
                self._own = (kk[mine], own_c[pos])
            elif j in offers:
                out[j] = f[mine]
                self._remote[j] = kk[mine]
        self._cand[k] = (_EMPTY, _EMPTY, self._no_codes())
        self._sec["exchange"] += time.perf_counter() - t0
        return out

    def pack(self, won: dict[int, Any]) -> list[Any]:
        """Step 4: the winners the others chose from this shard's candidates, encoded."""
        t0 = time.perf_counter()
        cand = self._cand
        out: list[Any] = [None] * self.n
        for j, fps in won.items():
            cf, _ck, cc = cand[j]
            out[j] = self._ship(j, cc[np.searchsorted(cf, fps)])
        self._cand = []
        self._sec["exchange"] += time.perf_counter() - t0
        return out

    def admit(self, shipped: dict[int, Any]) -> _Level:
        """Step 5: the next frontier, and the state properties on each new state."""
        t0 = time.perf_counter()
        nxt = self._new_frontier()
        best = self._best
        sv = self.ev.state_violations

        def check(keys: np.ndarray, states: list[State]) -> None:
            nonlocal best
            for key, t in zip(keys.tolist(), states, strict=True):
                bad = sv(t)
                if bad and (best is None or (key, 1) < (best[0], best[1])):
                    best = (key, 1, bad)

        own_k, own_c = self._own
        for lo in range(0, len(own_k), _ROWS):
            check(own_k[lo : lo + _ROWS], self._states(own_c[lo : lo + _ROWS]))
        nxt.add(own_k, own_c)
        self._own = (_EMPTY, self._no_codes())
        for frm, data in shipped.items():
            keys = self._remote[frm]
            codes = self._unpack(frm, data)
            for lo in range(0, len(keys), _ROWS):
                check(keys[lo : lo + _ROWS], self._states(codes[lo : lo + _ROWS]))
            nxt.add(keys, codes)
        self.front = nxt
        self.level += 1
        by_type = {t.__name__: c for t, c in self._counts.items() if c}
        self._remote = {}
        seconds = {
            **self._sec,
            "wait": self.waited,
            "admit": time.perf_counter() - t0,
            "cpu": time.process_time() - self._cpu0,  # this process's CPU time in the level
            # time runnable while other processes held the cores (Linux; else 0)
            "queued": _queued_seconds() - self._queued0,
        }
        return _Level(
            nxt.rows,
            self._transitions,
            by_type,
            self._found,
            best,
            seconds,
            tuple(self._wire),
            nxt.spilled,
        )


class _QueueShard(_Shard):
    """A shard in a worker process: payloads through ``multiprocessing`` queues."""

    def __init__(self, *args: Any, inboxes: list[Any], stop: Any = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.inboxes = inboxes
        self.stop = stop  # a multiprocessing Event: set when the run stops (Ctrl-C)
        self.stash: dict[tuple[str, int], list[tuple[int, Any]]] = {}

    def exchange(self, phase: str, payloads: list[Any]) -> dict[int, Any]:
        """Send each other shard its payload of ``phase``; the payloads the others sent here
        (the time blocked counts as waiting)."""
        t0 = time.perf_counter()
        for j, payload in enumerate(payloads):
            if j != self.k:
                self.inboxes[j].put((phase, self.level, self.k, payload))
        t1 = time.perf_counter()
        key = (phase, self.level)
        got = self.stash.pop(key, [])
        while len(got) < self.n - 1:
            ph, lvl, frm, payload = self.inboxes[self.k].get()
            if (ph, lvl) == key:
                got.append((frm, payload))
            else:  # a faster shard is already one step ahead
                self.stash.setdefault((ph, lvl), []).append((frm, payload))
        self.waited += time.perf_counter() - t1
        self._sec["exchange"] += t1 - t0
        return {frm: p for frm, p in got if p is not None}

    def stopping(self) -> bool:
        return self.stop is not None and self.stop.is_set()

    def step(self) -> _Level:
        keys = self.exchange("keys", self.begin())
        mine = self.expand(keys)
        offers = self.exchange("offer", mine)
        if _ABANDON in mine or any(isinstance(p, str) for p in offers.values()):
            if _ABANDON not in mine:  # another shard gave the level up: so does this one
                self._give_up()
            return self.abandoned_level()
        won = self.exchange("won", self.decide(offers))
        shipped = self.exchange("ship", self.pack(won))
        return self.admit(shipped)


def _shard_main(
    k: int, start: _Start, inboxes: list[Any], commands: Any, results: Any, stop: Any = None
) -> None:
    # the coordinator handles Ctrl-C and SIGTERM (sent to the whole process group too),
    # and a shard never outlives it (Linux: killed when the coordinator dies)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _die_with_parent()
    shard: _QueueShard | None = None
    try:
        import gc

        gc.disable()  # acyclic tuples only, as in the sequential search
        shard = _QueueShard(k, *start, inboxes=inboxes, stop=stop)
        results.put(("ready", k, shard.frontier_size()))
        while True:
            cmd = commands.get()
            if cmd == "stop":
                break
            if isinstance(cmd, tuple) and cmd[0] == "save":
                shard.save(cmd[1], cmd[2])
                results.put(("saved", k, None))
                continue
            if isinstance(cmd, tuple) and cmd[0] == "path":
                results.put(("path", k, shard.path(cmd[1], cmd[2])))
                continue
            results.put(("level", k, shard.step()))
    except BaseException:  # noqa: BLE001 - reported to the coordinator, which raises
        results.put(("error", k, traceback.format_exc(limit=8)))
    finally:
        if shard is not None:
            shard.cleanup()


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (``PR_SET_PDEATHSIG``): a
    shard ignores SIGTERM, so a coordinator killed outright must not leave it behind."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        pass


class _Start(NamedTuple):
    """What every shard of a run starts from (``_Shard(k, *start)``)."""

    n: int
    model: ParSyncModel
    symmetry: bool
    inits: list[State]
    resume: tuple[str, str, int, list[str]] | None
    spill: str | None = None  # the run's spill directory (each shard uses shard-K in it)
    frontier_memory: int = DEFAULT_FRONTIER_MEMORY  # bytes, per shard and level


class _Shards:
    """The started shards of one run, as the coordinator drives them: one transport per
    backend (``_Processes`` here, ``parsync.engines.ray_backend._Actors``)."""

    gives_up_mid_level = False  # whether ``give_up_level`` reaches a shard mid-level

    def ready(self) -> int:
        """Wait until every shard has started; the size of their frontier."""
        raise NotImplementedError

    def step(self) -> dict[int, _Level]:
        """Every shard's report of one level (``_Shard.expand`` ... ``admit``)."""
        raise NotImplementedError

    def save(self, where: str, tag: str) -> None:
        """Every shard writes its seen set and frontier (``_Shard.save``)."""
        raise NotImplementedError

    def path(self, key: int, level: int) -> list[int]:
        """Shard 0's ``_Shard.path``: the successor indices of a key's path."""
        raise NotImplementedError

    def close(self) -> None:
        """Stop the shards (also after a failure or Ctrl-C)."""
        raise NotImplementedError

    def give_up_level(self) -> None:
        """Ask the shards to give the level under way up (Ctrl-C): ``step`` then returns
        abandoned levels, each shard as before the level. A transport that cannot reach
        a shard mid-call (Ray) lets the level finish."""


class _Processes(_Shards):
    """The shards as worker processes (``fork``: the model is inherited), driven through
    one command queue each and a shared result queue."""

    def __init__(self, start: _Start) -> None:
        ctx = mp.get_context("fork")
        self.inboxes = [ctx.Queue() for _ in range(start.n)]
        self.commands = [ctx.Queue() for _ in range(start.n)]
        self.results = ctx.Queue()
        self.stop = ctx.Event()
        self.procs = [
            ctx.Process(
                target=_shard_main,
                args=(k, start, self.inboxes, self.commands[k], self.results, self.stop),
                daemon=True,
                name=f"parsync-shard-{k}",
            )
            for k in range(start.n)
        ]
        for p in self.procs:
            p.start()

    def ready(self) -> int:
        return sum(self._collect("ready").values())

    def step(self) -> dict[int, _Level]:
        for c in self.commands:
            c.put("step")
        return self._collect("level")

    def save(self, where: str, tag: str) -> None:
        for c in self.commands:
            c.put(("save", where, tag))
        self._collect("saved")

    gives_up_mid_level = True

    def give_up_level(self) -> None:
        self.stop.set()

    def path(self, key: int, level: int) -> list[int]:
        self.commands[0].put(("path", key, level))
        return self._collect("path", only=0)[0]  # type: ignore[no-any-return]

    def close(self) -> None:
        for c in self.commands:
            c.put("stop")
        for p in self.procs:
            p.join(timeout=2)
            if p.is_alive():
                p.kill()
                p.join()
        for q in (*self.inboxes, *self.commands, self.results):
            q.cancel_join_thread()
            q.close()

    def _collect(self, kind: str, only: int | None = None) -> dict[int, Any]:
        got: dict[int, Any] = {}
        want = len(self.procs) if only is None else 1
        while len(got) < want:
            try:
                what, k, payload = self.results.get(timeout=1.0)
            except queue_mod.Empty:
                for k, p in enumerate(self.procs):
                    if not p.is_alive() and k not in got:
                        raise ShardError(
                            f"shard {k} of {len(self.procs)} died (exit code {p.exitcode}); "
                            "out of memory? try fewer --workers or a smaller scope"
                        ) from None
                continue
            if what == "error":
                last = payload.strip().splitlines()[-1] if payload.strip() else "no reason given"
                raise ShardError(f"shard {k} of {len(self.procs)} failed: {last}", detail=payload)
            assert what == kind, (what, kind)
            got[k] = payload
        return got


class ParallelChecker:
    """Fingerprint-partitioned BFS over ``workers`` processes; the result of ``Checker``.

    ``checkpoint=DIR`` writes every shard's seen set and frontier, and the run's counts,
    at a level's end every ``checkpoint_every`` seconds and when a budget or Ctrl-C stops
    the run (the first Ctrl-C lets the level under way finish and be saved; a second one
    stops at once). ``resume=DIR`` continues such a run, with any worker count, to the
    counts an uninterrupted run has.
    """

    def __init__(
        self,
        model: ParSyncModel,
        *,
        workers: int,
        symmetry: bool = False,
        max_states: int | None = None,
        max_seconds: float | None = None,
        progress: Callable[[Progress], None] | None = None,
        checkpoint: str | os.PathLike[str] | None = None,
        resume: str | os.PathLike[str] | None = None,
        checkpoint_every: float = 60.0,
        notify: Callable[[str], None] | None = None,
        frontier_memory: int = DEFAULT_FRONTIER_MEMORY,
        spill_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        if frontier_memory < 0:
            raise ValueError("frontier_memory must be at least 0")
        self.frontier_memory = frontier_memory
        self.spill_dir = Path(spill_dir) if spill_dir is not None else None
        self.spilled = 0  # frontier states written to spill files, over the run
        self.m = model
        self.workers = workers
        self.symmetry = symmetry
        self.ev = Checker(model, symmetry=symmetry)
        self.max_states = max_states
        self.max_seconds = max_seconds
        self.progress = progress
        self.shard_seconds: list[dict[str, float]] = [{} for _ in range(workers)]
        self.resume = Path(resume) if resume is not None else None
        self.checkpoint = Path(checkpoint) if checkpoint is not None else self.resume
        self.checkpoint_every = checkpoint_every
        self.notify = notify or (lambda _msg: None)
        self.meta = self._read_meta() if self.resume is not None else None
        if self.checkpoint is not None:
            self._check_writable(self.checkpoint)
        self._stop_asked = False
        self.wire = [0, 0]  # states shipped between shards, and their encoded bytes

    # --- checkpoints ------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        m = self.m
        return {
            "config": m.config.describe(),
            "variant": m.variant,
            "policy": m.policy,
            "symmetry": self.symmetry,
            # fingerprints are Python's hashes of values: the same interpreter family only
            "hashes": f"{sys.implementation.name} {sys.version_info[0]}.{sys.version_info[1]} "
            f"{sys.hash_info.width}-bit",
        }

    def _read_meta(self) -> dict[str, Any]:
        assert self.resume is not None
        path = self.resume / "checkpoint.json"
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CheckpointError(
                f"{self.resume} holds no checkpoint ({path.name} missing)"
            ) from None
        except (OSError, ValueError) as e:
            raise CheckpointError(f"cannot read checkpoint {path}: {e}") from None
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(f"{path} is not a {CHECKPOINT_FORMAT} checkpoint")
        mine = self._identity()
        for key, want in mine.items():
            if meta.get(key) != want:
                raise CheckpointError(
                    f"{self.resume} is a checkpoint of {key} {meta.get(key)!r}, "
                    f"not of this run's {want!r}"
                )
        for j in range(int(meta["workers"])):
            f = self.resume / f"shard-{j}-{meta['tag']}.pickle"
            if not f.is_file():
                raise CheckpointError(f"checkpoint {self.resume} is incomplete: {f.name} missing")
        return meta

    @staticmethod
    def _check_writable(d: Path) -> None:
        try:
            d.mkdir(parents=True, exist_ok=True)
            probe = d / ".parsync-probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise CheckpointError(f"cannot write checkpoints to {d}: {e.strerror or e}") from None

    def _save(self, shards: _Shards, run: _Run) -> None:
        assert self.checkpoint is not None
        d = self.checkpoint
        tag = f"level{run.depth}"
        shards.save(str(d.resolve()), tag)  # absolute: Ray actors may run elsewhere
        meta = {
            "format": CHECKPOINT_FORMAT,
            **self._identity(),
            "workers": self.workers,
            "tag": tag,
            "depth": run.depth,
            "states": run.states,
            "transitions": run.transitions,
            "coverage": {t.__name__: c for t, c in run.by_type.items()},
            "witnesses": run.witnesses,
        }
        tmp = d / "checkpoint.json.tmp"
        tmp.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, d / "checkpoint.json")
        for old in d.glob("shard-*-level*.pickle"):  # earlier checkpoints, now superseded
            if not old.name.endswith(f"-{tag}.pickle"):
                old.unlink(missing_ok=True)
        run.last_save = time.perf_counter()
        self.notify(f"checkpoint: {run.states:,} states, depth {run.depth}, written to {d}")

    # --- the search ------------------------------------------------------------------
    def run(self) -> CheckResult:
        m, ev = self.m, self.ev
        sym = ev.sym
        canon = sym.canonical_key if sym is not None and not sym.trivial else m.state_key
        t0 = time.perf_counter()
        inits: list[State] = []
        seen0: set[object] = set()
        for s0 in m.init_states():
            key = canon(s0)
            if key not in seen0:
                seen0.add(key)
                inits.append(s0)
        applicable = [w for w in WITNESSES if witness_applicable(m, w)]
        run = _Run(
            states=len(inits),
            by_type=dict.fromkeys(m.action_types, 0),
            witnesses={w.id: (False if w in applicable else None) for w in WITNESSES},
        )
        if self.meta is not None:
            names = {t.__name__: t for t in m.action_types}
            run.states = int(self.meta["states"])
            run.transitions = int(self.meta["transitions"])
            run.depth = int(self.meta["depth"])
            for name, c in self.meta["coverage"].items():
                run.by_type[names[name]] = int(c)
            run.witnesses = dict(self.meta["witnesses"])
        else:
            for i, s0 in enumerate(inits):  # the initial level, as the sequential search
                bad = ev.state_violations(s0)
                if bad:
                    run.violation = Violation(
                        list(bad), Trace(init=inits[i], actions=[], states=[])
                    )
                    break
        if run.violation is None:
            self._search(inits, run, t0)
        result = finish(
            m,
            states=run.states,
            transitions=run.transitions,
            depth=run.depth,
            seconds=time.perf_counter() - t0,
            symmetry=sym.size if sym is not None else 1,
            by_type=run.by_type,
            witnesses=run.witnesses,
            violation=run.violation,
            stop_reason=run.stop_reason,
        )
        result.extra["workers"] = self.workers
        result.extra["shard_seconds"] = [
            {what: round(sec, 2) for what, sec in d.items()} for d in self.shard_seconds
        ]
        result.extra["fingerprint_collision_probability"] = collision_probability(result.states)
        # what crossed between shards: states shipped to their owners, and their encoded bytes
        result.extra["wire"] = {"states": self.wire[0], "bytes": self.wire[1]}
        result.extra["spilled_states"] = self.spilled
        result.extra["frontier_memory"] = self.frontier_memory
        if self.meta is not None:
            result.extra["resumed_from"] = {
                "dir": str(self.resume),
                "depth": self.meta["depth"],
                "states": self.meta["states"],
            }
        if self.checkpoint is not None:
            result.extra["checkpoint"] = str(self.checkpoint)
        return result

    def _open(self, start: _Start) -> _Shards:
        """Start the shards (worker processes here; Ray actors in ``RayChecker``)."""
        return _Processes(start)

    def _search(self, inits: list[State], run: _Run, t0: float) -> None:
        names = {t.__name__: t for t in self.m.action_types}
        resume = None
        if self.meta is not None:
            found = [k for k, v in run.witnesses.items() if v]
            resume = (str(self.resume), self.meta["tag"], int(self.meta["workers"]), found)
        graceful = (
            self.checkpoint is not None and threading.current_thread() is threading.main_thread()
        )
        old_handler = None
        shards: _Shards | None = None
        if graceful:

            def on_sigint(_sig: int, _frame: Any) -> None:
                if self._stop_asked:
                    raise KeyboardInterrupt
                self._stop_asked = True
                if shards is not None and shards.gives_up_mid_level:
                    shards.give_up_level()
                    how = "the level under way is given up and the last whole level is saved to"
                else:
                    how = "the level under way finishes and is saved to"
                self.notify(f"stopping: {how} {self.checkpoint} (Ctrl-C again to stop at once)")

            old_handler = signal.signal(signal.SIGINT, on_sigint)
        # the run's spill directory: frontier files past the memory bound, and the trail;
        # removed at the end, whatever ends the run (the shards remove their own part too)
        if self.spill_dir is not None:
            try:
                self.spill_dir.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise CheckpointError(
                    f"cannot make the spill directory {self.spill_dir}: {e.strerror or e}"
                ) from None
        spill = Path(tempfile.mkdtemp(prefix="parsync-spill-", dir=self.spill_dir))
        try:
            start = _Start(
                self.workers,
                self.m,
                self.symmetry,
                inits,
                resume,
                str(spill.resolve()),
                self.frontier_memory,
            )
            shards = self._open(start)
            run.last_save = time.perf_counter()
            frontier = shards.ready()
            while frontier:
                levels = shards.step()
                if any(lv.abandoned for lv in levels.values()):
                    # Ctrl-C mid-level: every shard is as it was before this level; the
                    # checkpoint holds the last whole level and resumes with this one
                    run.stop_reason = "interrupted"
                    if self.checkpoint is not None:
                        self._save(shards, run)
                    break
                best = None
                new = 0
                for k, lv in levels.items():
                    for what, sec in lv.seconds.items():
                        self.shard_seconds[k][what] = self.shard_seconds[k].get(what, 0.0) + sec
                    self.wire[0] += lv.wire[0]
                    self.wire[1] += lv.wire[1]
                    self.spilled += lv.spilled
                    new += lv.new
                    run.transitions += lv.transitions
                    for name, c in lv.by_type.items():
                        run.by_type[names[name]] += c
                    for wid in lv.witnesses:
                        run.witnesses[wid] = True
                    if lv.violation is not None and (best is None or lv.violation[:2] < best[:2]):
                        best = lv.violation
                if best is not None:
                    run.violation = self._rebuild(inits, best, shards.path(best[0], run.depth))
                    break
                run.states += new
                frontier = new
                if not frontier:
                    break
                run.depth += 1
                elapsed = time.perf_counter() - t0
                if self.progress is not None:
                    self.progress(
                        Progress(run.states, run.transitions, run.depth, frontier, elapsed)
                    )
                if self._stop_asked:
                    run.stop_reason = "interrupted"
                elif self.max_seconds is not None and elapsed > self.max_seconds:
                    run.stop_reason = f"time budget of {self.max_seconds:g}s reached"
                elif self.max_states is not None and run.states >= self.max_states:
                    run.stop_reason = f"state budget of {self.max_states} reached"
                if self.checkpoint is not None and (
                    run.stop_reason or time.perf_counter() - run.last_save >= self.checkpoint_every
                ):
                    self._save(shards, run)
                if run.stop_reason:
                    break
        except KeyboardInterrupt:
            run.stop_reason = "interrupted"
        finally:
            if old_handler is not None:
                signal.signal(signal.SIGINT, old_handler)
            if shards is not None:
                shards.close()
            shutil.rmtree(spill, ignore_errors=True)

    def _rebuild(
        self, inits: list[State], best: tuple[int, int, tuple[str, ...]], path: list[int]
    ) -> Violation:
        """Re-execute the violation's path (the initial state's index, then successor
        indices, from shard 0's trail) in the model: a real path, its properties re-checked."""
        _key, kind, ids = best
        m, ev = self.m, self.ev
        s = inits[path[0]]
        tr = Trace(init=s, actions=[], states=[])
        prev = s
        for idx in path[1:]:
            prev = s
            a, s = list(m.successors(s))[idx]
            tr = tr.extend(a, s)
        if kind == 0:
            abad = ev.action_violations(prev, tr.actions[-1], s)
            more = [i for i in ev.state_violations(s) if i not in abad]
            again = (*abad, *more)
        else:
            again = ev.state_violations(s)
        if tuple(again) != tuple(ids):
            raise ShardError(
                f"the counterexample re-executed in the model breaks {list(again)}, the search "
                f"reported {list(ids)} (a fingerprint collision or a nondeterministic model)"
            )
        return Violation(list(ids), tr)


__all__ = [
    "CheckpointError",
    "ParallelChecker",
    "ShardError",
    "collision_probability",
    "fingerprint",
]
