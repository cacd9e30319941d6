"""Symmetry reduction: interchangeable workers and interchangeable buckets.

Two workers are interchangeable when their needs have identical profiles
(priority, arrival, gang, size, eligible set), taken in the order the worker
works on them; swapping the workers then also swaps their needs. Two buckets
are interchangeable when they are in the same partition, have the same
capacity, and every need's eligible set contains both or neither.

Bucket symmetry is switched off for variants whose behaviour depends on the
order of a gang's buckets (``gang-*``): there, "the first bucket" is not
preserved by a renaming and the reduction would be unsound.

The canonical representative of a state is the least renaming over the whole
group (workers x buckets); the group is small at checkable scopes.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import permutations, product
from typing import TypeVar

from parsync.model.protocol import ParSyncModel
from parsync.model.state import Broker, Proposal, Replica, Reply, Snapshot, State, Worker

Perm = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]  # workers, needs, buckets

_X = TypeVar("_X")

ORDER_DEPENDENT_VARIANTS = ("gang-second-bucket-no-bump", "gang-fit-first-bucket-only")


def _classes(keys: list[object]) -> list[list[int]]:
    groups: dict[object, list[int]] = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    return [g for g in groups.values() if len(g) > 1]


def _group_perms(n: int, classes: list[list[int]]) -> list[tuple[int, ...]]:
    """All permutations of range(n) that permute within each class."""
    per_class = [list(permutations(c)) for c in classes]
    out = []
    for choice in product(*per_class):
        p = list(range(n))
        for cls, img in zip(classes, choice, strict=True):
            for a, b in zip(cls, img, strict=True):
                p[a] = b
        out.append(tuple(p))
    return out


class Symmetry:
    """The symmetry group of a model and the canonicalisation it induces."""

    def __init__(self, m: ParSyncModel, workers: bool = True, buckets: bool = True) -> None:
        self.m = m
        c = m.config
        W, B, N = m.W, m.B, m.N

        def need_profile(n: int) -> tuple[object, ...]:
            nd = c.needs[n]
            return (nd.priority, nd.arrival, nd.gang, nd.size, tuple(sorted(c.eligible(n))))

        wperms: list[tuple[int, ...]] = [tuple(range(W))]
        if workers:
            wkeys: list[object] = [tuple(need_profile(n) for n in m.needs_of[w]) for w in range(W)]
            wperms = _group_perms(W, _classes(wkeys))
        bperms: list[tuple[int, ...]] = [tuple(range(B))]
        if buckets and (m.variant not in ORDER_DEPENDENT_VARIANTS):
            bkeys: list[object] = [
                (m.part[b], m.cap[b], tuple(b in c.eligible(n) for n in range(N))) for b in range(B)
            ]
            bperms = _group_perms(B, _classes(bkeys))
        self.perms: list[Perm] = []
        for wp in wperms:
            sigma = list(range(N))
            for w in range(W):
                for a, b in zip(m.needs_of[w], m.needs_of[wp[w]], strict=True):
                    sigma[a] = b
            for bp in bperms:
                if wp == tuple(range(W)) and bp == tuple(range(B)):
                    continue
                self.perms.append((wp, tuple(sigma), bp))
        self.size = len(self.perms) + 1
        self._memo: dict[tuple[int, int, int], tuple[object, object]] = {}
        self._canon: dict[tuple[object, ...], tuple[object, ...]] = {}

    @property
    def trivial(self) -> bool:
        return not self.perms

    def canonical(self, s: State) -> State:
        """The least renaming of ``s`` over the group (the orbit's representative)."""
        best = s
        for i in range(len(self.perms)):
            r = self.rename_interned(s, i)
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
            c = self.m.state_key(self.canonical(s))
            self._canon[k] = c
        return c

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
        )

    def rename_interned(self, s: State, i: int) -> State:
        """``rename(s, perms[i])`` with memoised, interned components.

        Components are renamed one at a time through identity-keyed memo tables
        (the key objects are kept in the entry, as in protocol.py), and the
        results are interned, so the renamed state can be keyed by
        ``model.state_key``.
        """
        perm = self.perms[i]
        wp, sg, bp = perm
        memo = self._memo
        intern = self.m.intern

        def one(kind: int, x: _X, f: Callable[[_X], _X]) -> _X:
            key = (kind, i, id(x))
            e = memo.get(key)
            if e is not None and e[0] is x:
                return e[1]  # type: ignore[return-value]
            y = intern(f(x))
            memo[key] = (x, y)
            return y

        workers: list[Worker] = list(s.workers)
        for w in range(self.m.W):
            workers[wp[w]] = one(0, s.workers[w], lambda x: self._rename_worker(x, sg, bp))
        return State(
            one(1, s.broker, lambda x: self._rename_broker(x, sg, bp)),
            tuple(workers),
            one(2, s.to_broker, lambda x: self._rename_proposals(x, perm)),
            one(3, s.to_workers, lambda x: self._rename_replies(x, perm)),
            s.faults,
            self._rename_placed(s.placed, sg),
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
        return w._replace(pending=tuple(sg[n] for n in w.pending), known=known, view=view)
