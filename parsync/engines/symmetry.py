"""Symmetry reduction: interchangeable workers and interchangeable buckets.

Two workers are interchangeable when their needs have identical profiles
(priority, arrival, gang, size, eligible set), taken in the order the worker
works on them; swapping the workers then also swaps their needs. Two buckets
are interchangeable when they are in the same partition, have the same
capacity, and every need's eligible set contains both or neither.

Bucket symmetry is switched off for variants whose behaviour depends on the
order of a gang's buckets (``gang-*``): there, "the first bucket" is not
preserved by a renaming and the reduction would be unsound.

The canonical representative of a state is the least renaming over the group
(workers x buckets), found without enumerating the group:

1. every worker and bucket gets a *signature*: what the state says about it with
   the names of other workers, needs and buckets left out (a need stands for its
   profile; a worker's view of a partition is the sorted list of its entries; the
   messages touching a bucket are a sorted list of their contents). A renaming
   moves an element's signature with it, so signatures are invariant;
2. within each class, elements are sorted by signature (``base``); the renamings
   that sort the state this way are ``base`` followed by any permutation within a
   group of tied signatures, and the least of their images is the orbit's least
   member among sorted states: a canonical form;
3. a tie group whose every permutation leaves the sorted state unchanged (its
   transposition and its full cycle, which generate them all, both do) adds
   nothing and is skipped; the others are enumerated, and they are small in
   practice (elements that differ usually differ in their signature). Past
   ``MAX_TIE_PERMUTATIONS`` candidates the sorted state itself is taken: still a
   member of the orbit, so the search stays sound, but two members of one orbit
   may then be kept apart (counted in ``inexact``; never seen on the presets).

The group's size is computed (a product of factorials), never listed: a class
of 24 interchangeable buckets starts in microseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import permutations, product
from math import factorial, prod
from typing import Any

from parsync.model.protocol import ParSyncModel
from parsync.model.state import Broker, Proposal, Replica, Reply, Snapshot, State, Worker

Perm = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # workers, needs, buckets

ORDER_DEPENDENT_VARIANTS = ("gang-second-bucket-no-bump", "gang-fit-first-bucket-only")

#: Candidate renamings enumerated per state at most (see the module docstring, 3.)
MAX_TIE_PERMUTATIONS = 5040


def _classes(keys: list[object]) -> list[list[int]]:
    groups: dict[object, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _sorted_perm(
    n: int, classes: list[list[int]], sig: list[object]
) -> tuple[list[int], list[list[int]]]:
    """(old index -> new index sorting each class by signature, the tie groups as
    lists of new indices)."""
    perm = list(range(n))
    ties: list[list[int]] = []
    for cls in classes:
        order = sorted(cls, key=lambda i: (sig[i], i))
        for slot, i in zip(cls, order, strict=True):
            perm[i] = slot
        k = 0
        while k < len(order):
            j = k + 1
            while j < len(order) and sig[order[j]] == sig[order[k]]:
                j += 1
            if j - k > 1:
                ties.append(cls[k:j])
            k = j
    return perm, ties


def _swap(n: int, group: list[int], cycle: bool) -> tuple[int, ...]:
    """The transposition of a group's first two elements, or its full cycle."""
    p = list(range(n))
    if cycle:
        for a, b in zip(group, group[1:] + group[:1], strict=True):
            p[a] = b
    else:
        p[group[0]], p[group[1]] = group[1], group[0]
    return tuple(p)


class Symmetry:
    """The symmetry group of a model and the canonicalisation it induces."""

    def __init__(self, m: ParSyncModel, workers: bool = True, buckets: bool = True) -> None:
        self.m = m
        c = m.config
        W, B, N = m.W, m.B, m.N

        def need_profile(n: int) -> tuple[object, ...]:
            nd = c.needs[n]
            return (nd.priority, nd.arrival, nd.gang, nd.size, tuple(sorted(c.eligible(n))))

        self.profile = tuple(need_profile(n) for n in range(N))
        self.wclasses: list[list[int]] = []
        if workers:
            wkeys: list[object] = [tuple(self.profile[n] for n in m.needs_of[w]) for w in range(W)]
            self.wclasses = _classes(wkeys)
        self.bclasses: list[list[int]] = []
        if buckets and (m.variant not in ORDER_DEPENDENT_VARIANTS):
            bkeys: list[object] = [
                (m.part[b], m.cap[b], tuple(b in c.eligible(n) for n in range(N))) for b in range(B)
            ]
            self.bclasses = _classes(bkeys)
        self.size = prod(factorial(len(k)) for k in (*self.wclasses, *self.bclasses))
        self.inexact = 0  # states whose tie groups were too large to enumerate
        self._canon: dict[tuple[object, ...], tuple[object, ...]] = {}

    @property
    def trivial(self) -> bool:
        return self.size == 1

    def perm_of(self, wp: tuple[int, ...], bp: tuple[int, ...]) -> Perm:
        """The renaming that sends worker w to wp[w] (and its needs to theirs, in order)
        and bucket b to bp[b]."""
        m = self.m
        sigma = list(range(m.N))
        for w in range(m.W):
            for a, b in zip(m.needs_of[w], m.needs_of[wp[w]], strict=True):
                sigma[a] = b
        return (wp, tuple(sigma), bp)

    def iter_perms(self) -> Iterator[Perm]:
        """Every non-identity element of the group, lazily (tests and tiny groups only:
        the reduction itself never lists the group)."""
        m = self.m

        def within(n: int, classes: list[list[int]]) -> Iterator[tuple[int, ...]]:
            for choice in product(*(permutations(k) for k in classes)):
                p = list(range(n))
                for cls, img in zip(classes, choice, strict=True):
                    for a, b in zip(cls, img, strict=True):
                        p[a] = b
                yield tuple(p)

        ident = (tuple(range(m.W)), tuple(range(m.B)))
        for wp in within(m.W, self.wclasses):
            for bp in within(m.B, self.bclasses):
                if (wp, bp) != ident:
                    yield self.perm_of(wp, bp)

    # --- signatures ------------------------------------------------------------
    def worker_signatures(self, s: State) -> list[object]:
        m, prof = self.m, self.profile
        br = s.broker
        out: list[object] = []
        sent: list[list[Any]] = [[] for _ in range(m.W)]
        # proposals in the network (0) and in the broker's inbox (2, contract)
        for where, p in (*((0, p) for p in s.to_broker), *((2, p) for p in s.inbox)):
            sent[p.worker].append(
                (
                    where,
                    prof[p.need],
                    p.priority,
                    p.epoch,
                    sorted(q for _, q in p.reads),
                    p.cycle,
                    p.attempt,
                    p.fresh,
                )
            )
        for r in s.to_workers:
            sent[r.worker].append((1, prof[r.need], r.kind, r.cycle, r.attempt, len(r.buckets)))
        for w, wk in enumerate(s.workers):
            view = tuple(
                (tuple((sn.read_at, sorted(sn.entries)) for sn in snaps)) for snaps in wk.view
            )
            mine = tuple(
                (br.status[n], s.placed[n], len(br.ledger[n]), (wk.known >> n) & 1)
                for n in m.needs_of[w]
            )
            out.append(
                (
                    wk.up,
                    wk.cycle,
                    wk.mode,
                    wk.epoch,
                    wk.fresh_at,
                    view,
                    tuple(prof[n] for n in wk.pending),
                    wk.waiting,
                    wk.retries,
                    wk.attempts,
                    mine,
                    sorted(sent[w]),
                )
            )
        return out

    def bucket_signatures(self, s: State) -> list[object]:
        m, prof = self.m, self.profile
        br = s.broker
        touched: list[list[Any]] = [[] for _ in range(m.B)]
        for where, p in (*((0, p) for p in s.to_broker), *((2, p) for p in s.inbox)):
            for b, q in p.reads:
                touched[b].append(
                    (
                        where,
                        prof[p.need],
                        p.priority,
                        p.epoch,
                        q,
                        p.cycle,
                        p.attempt,
                        p.fresh,
                        len(p.reads),
                    )
                )
        for r in s.to_workers:
            for b in r.buckets:
                touched[b].append((1, prof[r.need], r.kind, r.cycle, r.attempt, len(r.buckets)))
        held: list[list[Any]] = [[] for _ in range(m.B)]
        for n in range(m.N):
            for b in br.ledger[n]:
                held[b].append((prof[n], br.status[n]))
        out: list[object] = []
        for b in range(m.B):
            part, i = m.part[b], m.idx[b]
            views = sorted(
                tuple((sn.read_at, sn.entries[i]) for sn in wk.view[part]) for wk in s.workers
            )
            replica = None if br.replica is None else (br.replica[0][b], len(br.replica[1][b]))
            out.append(
                (
                    br.seq[b],
                    sorted(prof[n] for n in br.claims[b]),
                    sorted(held[b]),
                    views,
                    sorted(touched[b]),
                    replica,
                )
            )
        return out

    # --- canonical form ----------------------------------------------------------
    def canonical(self, s: State) -> State:
        """The least renaming of ``s`` among those that sort it by signature."""
        if self.trivial:
            return s
        m = self.m
        wp, wties = _sorted_perm(m.W, self.wclasses, self.worker_signatures(s))
        bp, bties = _sorted_perm(m.B, self.bclasses, self.bucket_signatures(s))
        base = self.rename(s, self.perm_of(tuple(wp), tuple(bp)))
        ident_w, ident_b = tuple(range(m.W)), tuple(range(m.B))
        open_w: list[list[int]] = []
        open_b: list[list[int]] = []
        for groups, opened, is_w in ((wties, open_w, True), (bties, open_b, False)):
            n = m.W if is_w else m.B
            for g in groups:
                fixed = True
                for cyc in (False, True):
                    sp = _swap(n, g, cyc)
                    perm = self.perm_of(sp, ident_b) if is_w else self.perm_of(ident_w, sp)
                    if self.rename(base, perm) != base:
                        fixed = False
                        break
                if not fixed:
                    opened.append(g)
        if not open_w and not open_b:
            return base
        count = prod(factorial(len(g)) for g in (*open_w, *open_b))
        if count > MAX_TIE_PERMUTATIONS:
            self.inexact += 1
            return base

        def within(n: int, groups: list[list[int]]) -> Iterator[tuple[int, ...]]:
            for choice in product(*(permutations(g) for g in groups)):
                p = list(range(n))
                for g, img in zip(groups, choice, strict=True):
                    for a, b in zip(g, img, strict=True):
                        p[a] = b
                yield tuple(p)

        best = base
        for swp in within(m.W, open_w):
            for sbp in within(m.B, open_b):
                r = self.rename(base, self.perm_of(swp, sbp))
                if r < best:
                    best = r
        return best

    def canonical_key(self, s: State) -> tuple[object, ...]:
        """``model.state_key`` of the canonical representative (the checker's key).

        Memoised on the state's own key: most successors are states reached
        before, and their orbit's representative is then a dictionary look-up.
        """
        k = self.m.state_key(s)
        c = self._canon.get(k)
        if c is None:
            c = self.m.state_key(self._interned(self.canonical(s)))
            self._canon[k] = c
        return c

    def _interned(self, s: State) -> State:
        """``s`` with interned components, so ``model.state_key`` can key it by identity."""
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

    # --- renaming ------------------------------------------------------------
    def rename(self, s: State, perm: Perm) -> State:
        wp, sg, bp = perm
        workers: list[Worker] = list(s.workers)
        for w in range(self.m.W):
            workers[wp[w]] = self._rename_worker(s.workers[w], sg, bp)
        return State(
            self._rename_broker(s.broker, sg, bp),
            tuple(workers),
            self._rename_proposals(s.to_broker, perm),
            self._rename_replies(s.to_workers, perm),
            s.faults,
            self._rename_placed(s.placed, sg),
            self._rename_proposals(s.inbox, perm) if s.inbox else s.inbox,
        )

    def _rename_placed(self, placed: tuple[int, ...], sg: tuple[int, ...]) -> tuple[int, ...]:
        out = [0] * self.m.N
        for n in range(self.m.N):
            out[sg[n]] = placed[n]
        return tuple(out)

    def _rename_broker(self, br: Broker, sg: tuple[int, ...], bp: tuple[int, ...]) -> Broker:
        seq, claims, ledger, status = self.rename_broker_parts(
            br.seq, br.claims, br.ledger, br.status, sg, bp
        )
        replica = br.replica
        if replica is not None:
            replica = self.rename_broker_parts(*replica, sg, bp)
        return Broker(br.epoch, seq, claims, ledger, status, replica)

    def _rename_proposals(self, bag: tuple[Proposal, ...], perm: Perm) -> tuple[Proposal, ...]:
        wp, sg, bp = perm
        return tuple(
            sorted(
                Proposal(
                    wp[p.worker],
                    sg[p.need],
                    p.priority,
                    p.epoch,
                    tuple(sorted((bp[b], q) for b, q in p.reads)),
                    p.cycle,
                    p.attempt,
                    p.fresh,
                )
                for p in bag
            )
        )

    def _rename_replies(self, bag: tuple[Reply, ...], perm: Perm) -> tuple[Reply, ...]:
        wp, sg, bp = perm
        return tuple(
            sorted(
                Reply(
                    wp[r.worker],
                    sg[r.need],
                    r.kind,
                    r.cycle,
                    r.attempt,
                    tuple(sorted(bp[b] for b in r.buckets)),
                )
                for r in bag
            )
        )

    def rename_broker_parts(
        self,
        seq: tuple[int, ...],
        claims: tuple[tuple[int, ...], ...],
        ledger: tuple[tuple[int, ...], ...],
        status: tuple[int, ...],
        sg: tuple[int, ...],
        bp: tuple[int, ...],
    ) -> Replica:
        m = self.m
        nseq = [0] * m.B
        ncl: list[tuple[int, ...]] = [()] * m.B
        for b in range(m.B):
            nseq[bp[b]] = seq[b]
            ncl[bp[b]] = tuple(sorted(sg[n] for n in claims[b]))
        nl: list[tuple[int, ...]] = [()] * m.N
        ns = [0] * m.N
        for n in range(m.N):
            nl[sg[n]] = tuple(sorted(bp[b] for b in ledger[n]))
            ns[sg[n]] = status[n]
        return (tuple(nseq), tuple(ncl), tuple(nl), tuple(ns))

    def _rename_worker(self, w: Worker, sg: tuple[int, ...], bp: tuple[int, ...]) -> Worker:
        m = self.m
        known = 0
        for n in range(m.N):
            if (w.known >> n) & 1:
                known |= 1 << sg[n]
        view = w.view
        if any(bp[b] != b for b in range(m.B)):
            nv = []
            for p, snaps in enumerate(view):
                mem = m.members[p]
                ns = []
                for snap in snaps:
                    entries = [(0, 0)] * len(mem)
                    for i, b in enumerate(mem):
                        entries[m.idx[bp[b]]] = snap.entries[i]
                    ns.append(Snapshot(snap.read_at, tuple(entries)))
                nv.append(tuple(ns))
            view = tuple(nv)
        parked = w.parked
        if parked:  # contract: the set-aside needs' counters travel with their needs
            parked = tuple(sorted((sg[n], r, a, k) for n, r, a, k in parked))
        return w._replace(
            pending=tuple(sg[n] for n in w.pending), known=known, view=view, parked=parked
        )
