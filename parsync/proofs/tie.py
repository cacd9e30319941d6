"""The exhaustive tie between the Z3 encoding and the Python model (issue 17).

``parsync prove`` and ``parsync bmc`` read ``parsync/proofs/encoding.py``, a
second, hand-written statement of the protocol; the explicit checker,
Hypothesis, simulation, conformance and traces run ``model/protocol.py``. The
two are not (yet) one relation: the encoding is written against a
:class:`~parsync.proofs.logic.Universe` so that the same text is read by Z3
parametrically (uninterpreted sorts, arrays, quantifiers) and in one finite
scope, while the Python model is written on concrete, memoised components
(bags as sorted tuples, snapshots, gang sets enumerated lazily) for speed. A
single source that both executes and is read symbolically means rewriting one
of them around the other; that refactor is out of this module's scope. Until
it exists, this module is the check that keeps the two statements equal: for
a set of *tie scopes* of different shapes, it visits **every** reachable state
of the Python model (breadth-first, exhaustive: the scopes are chosen small
enough) and checks, per state ``s``:

* **Init** - ``alpha`` of the model's initial state satisfies the encoding's
  Init, and no state differing from it in one entry does (Init is one state);
* **Next** - the set of successors that the encoding's finite reading gives
  for ``alpha(s)`` equals ``{alpha(t)}`` over the model's successors ``t``,
  and each model step ``s -a-> t`` is produced by a sub-action of ``a``
  (:func:`~parsync.proofs.concrete.sub_actions_of`).

How: the finite reading's Next is the per-sub-action form BMC unrolls (a guard
and new values per entry; the frame leaves the rest). The sub-actions are
built once per scope over a symbolic pre-state, with their parameters and the
message fields left as inputs, and the Z3 terms are compiled into Python
closures (a DAG walk: And/Or/Not/Implies/If/==/Distinct, integer arithmetic,
pseudo-Boolean counts, enumeration constants; pinned constants are folded).
For each state the guards are evaluated for every parameter tuple (the
conjuncts of a guard are checked as soon as their parameters are bound, so an
undelivered message prunes a whole branch), and the new values of the enabled
tuples give the encoding's successors. No solver runs per state, which makes
thousands of states a second possible where the differential check
(``differential.py``) takes a solver call per state.

Messages: the finite reading's messages are the elements of the sorts
``PM``/``RM`` with rigid fields. Per state, the universe is the messages in
flight, those the model's successors send and *candidates*: every proposal an
up, idle worker could send for a pending need (every ``gang``-set of its
eligible buckets, its view's seqnos and the tags it could use) and every reply
the broker could send to a proposal in flight (every kind; Conflict with every
set of touched buckets). The encoding can therefore send a message the model
does not, and such a step counts as a successor the model lacks. A message
outside this candidate set that the encoding would send and the model would
not is the one thing the check could miss; the fields it varies are those the
model stamps, so a model that stamps a different value still shows as a step
the encoding lacks.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import z3  # type: ignore[import-untyped]
from z3 import z3core  # type: ignore[import-untyped]

from parsync.model.actions import Action, fmt_action
from parsync.model.config import Config, Faults, Need
from parsync.model.presets import get_preset
from parsync.model.protocol import ParSyncModel
from parsync.model.state import ALREADY, COMMITTED, CONFLICT, FENCED, Proposal, Reply, State
from parsync.proofs.concrete import (
    _PAD_P,
    _PAD_R,
    Scope,
    proposal_fields,
    reply_fields,
    sub_actions_of,
    values,
)
from parsync.proofs.encoding import CONTRACT_VARIANTS as _CONTRACT_ONLY
from parsync.proofs.encoding import RIGID, STATE_VARS, ActionEnc

Env = list[Any]
Fn = Callable[[Env], Any]

# --- the tie scopes ---------------------------------------------------------------------


@dataclass(frozen=True)
class TieScope:
    """One scope of the tie: a Config, a policy, a shape label."""

    name: str
    shape: str
    config: Config
    policy: str = "reference"
    variant: str | None = None
    depth: int | None = None  # None: every reachable state; k: the states within k steps

    def model(self) -> ParSyncModel:
        return ParSyncModel(self.config, self.variant, policy=self.policy)

    @property
    def label(self) -> str:
        return (
            f"{self.name}/{self.policy}"
            + (f"/{self.variant}" if self.variant else "")
            + (f" (depth <= {self.depth})" if self.depth is not None else "")
        )


#: shape -> (name, Config, depth bound per policy) of the scopes prove checks: small
#: enough that the whole tie takes seconds. Only the ``pr`` preset itself is bounded,
#: by depth (every state within 6 steps of Init, 5 under the contract, whose
#: branching is wider); the other scopes are exhaustive.
_QUICK: dict[str, tuple[str, Config, dict[str, int] | None]] = {
    "pr": ("pr", get_preset("pr").config, {"reference": 6, "contract": 5}),
    "sizes": (
        "sizes-2",
        Config(
            workers=2,
            partitions=2,
            capacities=(2, 1),
            needs=(Need(0, 1, 1, size=2), Need(1, 2, 1, eligible=(0,))),
            retry_budget=1,
            strategy="quality-first",
            max_cycle=1,
            faults=Faults(failover=1),
        ),
        None,
    ),
    "three-partitions": (
        "p3-gang",
        Config(
            workers=2,
            partitions=3,
            capacities=(1, 1, 1, 1),
            needs=(Need(0, 1, 1, gang=2, eligible=(0, 3)), Need(1, 2, 1, eligible=(1, 2))),
            retry_budget=1,
            strategy="latency-first",
            max_cycle=2,
            faults=Faults(drop=1),
        ),
        None,
    ),
    "three-workers": (
        "w3-latency",
        Config(
            workers=3,
            partitions=2,
            capacities=(1, 1),
            needs=(
                Need(0, 1, 1, eligible=(0,)),
                Need(1, 2, 1, eligible=(0,)),
                Need(2, 1, 1, eligible=(1,)),
            ),
            retry_budget=1,
            strategy="latency-first",
            max_cycle=1,
            faults=Faults(),
        ),
        None,
    ),
    "partition-map": (
        "map-eligible",
        Config(
            workers=2,
            partitions=2,
            capacities=(2, 1, 1),
            needs=(Need(0, 1, 1, eligible=(1, 2)), Need(1, 2, 1, gang=2, eligible=(0, 2))),
            retry_budget=1,
            strategy="adaptive",
            max_cycle=1,
            faults=Faults(drop=1),
            partition_map=(0, 0, 1),
        ),
        None,
    ),
}

SHAPES: tuple[str, ...] = tuple(_QUICK)


def quick_scopes() -> list[TieScope]:
    """The scopes ``prove`` and ``bmc`` always check: one per shape, both policies."""
    return [
        TieScope(name, shape, cfg, policy, depth=None if depths is None else depths[policy])
        for shape, (name, cfg, depths) in _QUICK.items()
        for policy in ("reference", "contract")
    ]


def full_scopes() -> list[TieScope]:
    """The larger scopes (slow tests): the ``pr`` preset itself and presets of the
    other shapes, each exhaustive, under each policy on the preset's scope for that
    policy (``Preset.config_for``: ``pr``'s contract scope is its crash alone, as
    ``parsync check --preset pr`` explores it)."""
    out = []
    for preset, shape in (
        ("pr", "pr"),
        ("capacity", "partition-map"),
        ("three-partitions", "three-partitions"),
    ):
        for policy in ("reference", "contract"):
            out.append(TieScope(preset, shape, get_preset(preset).config_for(policy), policy))
    return out


def nightly_scopes() -> list[TieScope]:
    """The larger scopes the gate's ``nightly`` profile ties after the quick ones:
    ``capacity`` (capacity 2-3, sizes 1-2, a partition map) under the reference and
    ``three-partitions`` (P = 3 over a full rotation) under both policies, each
    exhaustive (about 270 s of CPU in all, measured before the contract's inbox:
    35,422 + 64,701 + 193,854 states; three-partitions on the contract has 227,529
    now). ``capacity`` on the contract (596,403 states; 427,454 took about 500 s)
    and ``pr`` are left to the slow tests (:func:`full_scopes`)."""
    return [
        TieScope("capacity", "partition-map", get_preset("capacity").config, "reference"),
        *(
            TieScope("three-partitions", "three-partitions", get_preset(p).config, policy)
            for p in ("three-partitions",)
            for policy in ("reference", "contract")
        ),
    ]


# --- compiling Z3 terms to Python closures -------------------------------------------------


class Unsupported(Exception):
    """A Z3 operator the compiler does not know (a new construct in the encoding)."""


class Compiler:
    """Z3 terms -> closures over an environment list (DAG memoised at compile time).

    ``slots`` maps the AST id of each free constant (state entries, message fields,
    parameters) to its position in the environment; ``elems`` maps the AST id of
    each enumeration constant to its element index. The walk uses Z3's C API
    directly (the Python wrappers cost more than the rest of the tie).
    """

    def __init__(self, slots: dict[int, int], elems: dict[int, int]) -> None:
        self.slots = slots
        self.elems = elems
        # id -> (constant?, value or closure, slots read)
        self.memo: dict[int, tuple[bool, Any, frozenset[int]]] = {}
        self.ctx = z3.main_ctx().ref()

    def fn(self, e: Any) -> Fn:
        c, v, _ = self.node(e.as_ast())
        return _lift((c, v))

    def compile(self, e: Any) -> tuple[bool, Any]:
        c, v, _ = self.node(e.as_ast())
        return c, v

    def slots_of(self, e: Any) -> frozenset[int]:
        """The environment slots a term reads."""
        return self.node(e.as_ast())[2]

    # the C API, without the wrappers' error checks (the terms are well formed)
    def _id(self, a: Any) -> int:
        return int(_L.Z3_get_ast_id(self.ctx, a))

    def _args(self, a: Any) -> list[Any]:
        n = _L.Z3_get_app_num_args(self.ctx, a)
        return [_L.Z3_get_app_arg(self.ctx, a, i) for i in range(n)]

    def _kind(self, a: Any) -> int:
        return int(_L.Z3_get_decl_kind(self.ctx, _L.Z3_get_app_decl(self.ctx, a)))

    def node(self, a: Any) -> tuple[bool, Any, frozenset[int]]:
        k = self._id(a)
        r = self.memo.get(k)
        if r is None:
            r = self._node(a, k)
            self.memo[k] = r
        return r

    def _node(self, a: Any, k: int) -> tuple[bool, Any, frozenset[int]]:  # noqa: C901
        none: frozenset[int] = frozenset()
        if k in self.slots:
            s = self.slots[k]
            return False, lambda env, s=s: env[s], frozenset((s,))
        if k in self.elems:
            return True, self.elems[k], none
        ak = _L.Z3_get_ast_kind(self.ctx, a)
        if ak == z3.Z3_NUMERAL_AST:
            return True, int(z3core.Z3_get_numeral_string(self.ctx, a)), none
        if ak != z3.Z3_APP_AST:
            raise Unsupported(
                f"a quantifier or bound variable: {z3core.Z3_ast_to_string(self.ctx, a)}"
            )
        kind = self._kind(a)
        if kind == z3.Z3_OP_TRUE:
            return True, True, none
        if kind == z3.Z3_OP_FALSE:
            return True, False, none
        args = self._args(a)
        if not args:
            raise Unsupported(
                f"a free constant the tie does not know: {z3core.Z3_ast_to_string(self.ctx, a)}"
            )
        if kind == z3.Z3_OP_ITE:
            return self._ite(a, args)
        ns = [self.node(x) for x in args]
        deps = none.union(*[d for _, _, d in ns])
        cs = [(c, v) for c, v, _ in ns]
        c, v = self._op(a, kind, cs)
        return c, v, (none if c else deps)

    def _op(self, a: Any, kind: int, cs: list[tuple[bool, Any]]) -> tuple[bool, Any]:  # noqa: C901
        consts = all(c for c, _ in cs)
        vals = [v for _, v in cs]
        if kind == z3.Z3_OP_AND:
            if any(c and v is False for c, v in cs):
                return True, False
            fs = [v for c, v in cs if not c]
            if not fs:
                return True, True
            if len(fs) == 1:
                return False, fs[0]
            if len(fs) == 2:
                f0, f1 = fs
                return False, lambda env: bool(f0(env)) and bool(f1(env))

            def and_(env: Env, fs: list[Fn] = fs) -> bool:
                for f in fs:
                    if not f(env):
                        return False
                return True

            return False, and_
        if kind == z3.Z3_OP_OR:
            if any(c and v is True for c, v in cs):
                return True, True
            fs = [v for c, v in cs if not c]
            if not fs:
                return True, False
            if len(fs) == 1:
                return False, fs[0]

            def or_(env: Env, fs: list[Fn] = fs) -> bool:
                for f in fs:
                    if f(env):
                        return True
                return False

            return False, or_
        if kind == z3.Z3_OP_NOT:
            if consts:
                return True, not vals[0]
            f = vals[0]
            return False, lambda env: not f(env)
        if kind == z3.Z3_OP_IMPLIES:
            (ca, va), (cb, vb) = cs
            if ca:
                return (True, True) if not va else (cb, vb)
            fa, fb = va, _lift((cb, vb))
            return False, lambda env: (not fa(env)) or bool(fb(env))
        op = _BINOPS.get(kind)
        if op is not None and len(cs) == 2:
            if consts:
                return True, op(vals[0], vals[1])
            fx, fy = _lift(cs[0]), _lift(cs[1])
            if kind == z3.Z3_OP_EQ:
                return False, lambda env: fx(env) == fy(env)
            return False, lambda env: op(fx(env), fy(env))
        if kind == z3.Z3_OP_DISTINCT:
            fl = [_lift(c) for c in cs]
            return False, lambda env: len({f(env) for f in fl}) == len(fl)
        if kind in (z3.Z3_OP_ADD, z3.Z3_OP_SUB, z3.Z3_OP_MUL):
            fl = [_lift(c) for c in cs]
            if kind == z3.Z3_OP_ADD:
                if len(fl) == 2:
                    f0, f1 = fl
                    r: tuple[bool, Any] = (False, lambda env: f0(env) + f1(env))
                else:
                    r = (False, lambda env: sum(f(env) for f in fl))
            elif kind == z3.Z3_OP_SUB:

                def sub(env: Env) -> Any:
                    acc = fl[0](env)
                    for f in fl[1:]:
                        acc -= f(env)
                    return acc

                r = (False, sub)
            else:

                def mul(env: Env) -> Any:
                    acc = 1
                    for f in fl:
                        acc *= f(env)
                    return acc

                r = (False, mul)
            return (True, r[1]([])) if consts else r
        if kind == z3.Z3_OP_UMINUS:
            if consts:
                return True, -vals[0]
            f = vals[0]
            return False, lambda env: -f(env)
        cmp = _PB.get(kind)
        if cmp is not None:
            d = _L.Z3_get_app_decl(self.ctx, a)
            ps = [
                int(_L.Z3_get_decl_int_parameter(self.ctx, d, i))
                for i in range(_L.Z3_get_decl_num_parameters(self.ctx, d))
            ]
            kk = ps[0]
            coeffs = ps[1:] or [1] * len(cs)
            fl = [_lift(c) for c in cs]
            pairs = list(zip(coeffs, fl, strict=True))
            return False, lambda env: cmp(sum(c for c, f in pairs if f(env)), kk)
        raise Unsupported(f"operator kind {kind} in {z3core.Z3_ast_to_string(self.ctx, a)[:120]}")

    def _ite(self, a: Any, args: list[Any]) -> tuple[bool, Any, frozenset[int]]:
        """If-then-else; a chain ``If(x == c1, a1, If(x == c2, a2, ...))`` on one
        term x becomes a table lookup (the finite reading of ``f(x)``)."""
        chain: list[tuple[Any, Any]] = []
        subject = None
        cur, cargs = a, args
        while True:
            cond, th, el = cargs
            if self._is_app(cond) and self._kind(cond) == z3.Z3_OP_EQ:
                x, y = self._args(cond)
                nx, ny = self.node(x), self.node(y)
                if ny[0] and not nx[0]:
                    subj, key = x, ny[1]
                elif nx[0] and not ny[0]:
                    subj, key = y, nx[1]
                else:
                    break
                sid = self._id(subj)
                if subject is None:
                    subject = sid
                elif sid != subject:
                    break
                chain.append((key, th))
                cur = el
                if self._is_app(cur) and self._kind(cur) == z3.Z3_OP_ITE:
                    cargs = self._args(cur)
                    continue
                break
            break
        if len(chain) >= 2:
            assert subject is not None
            sn = self.memo[subject]
            fs = _lift((sn[0], sn[1]))
            deps = set(sn[2])
            table: dict[Any, Fn] = {}
            for key, th in chain:
                n = self.node(th)
                deps |= n[2]
                table.setdefault(key, _lift((n[0], n[1])))
            n = self.node(cur)
            deps |= n[2]
            dflt = _lift((n[0], n[1]))
            get = table.get
            return False, lambda env: get(fs(env), dflt)(env), frozenset(deps)
        c, th, el = args
        nc = self.node(c)
        if nc[0]:
            return self.node(th if nc[1] else el)
        fc = nc[1]
        na, nb = self.node(th), self.node(el)
        deps2 = nc[2] | na[2] | nb[2]
        if na[0] and nb[0]:
            va, vb = na[1], nb[1]
            return False, lambda env: va if fc(env) else vb, deps2
        fa, fb = _lift((na[0], na[1])), _lift((nb[0], nb[1]))
        return False, lambda env: fa(env) if fc(env) else fb(env), deps2

    def _is_app(self, a: Any) -> bool:
        return bool(_L.Z3_get_ast_kind(self.ctx, a) == z3.Z3_APP_AST)


class _Raw:
    """Z3's C functions without the z3core wrappers' per-call error check (the
    wrapper's ctypes function when it is reachable, the wrapper otherwise)."""

    def __getattr__(self, name: str) -> Any:
        w = getattr(z3core, name)
        d = getattr(w, "__defaults__", None)
        f = getattr(d[0], "f", None) if d else None
        f = f if callable(f) else w
        setattr(self, name, f)
        return f


_L = _Raw()

_BINOPS: dict[int, Callable[[Any, Any], Any]] = {
    z3.Z3_OP_EQ: lambda x, y: x == y,
    z3.Z3_OP_LE: lambda x, y: x <= y,
    z3.Z3_OP_LT: lambda x, y: x < y,
    z3.Z3_OP_GE: lambda x, y: x >= y,
    z3.Z3_OP_GT: lambda x, y: x > y,
    z3.Z3_OP_MOD: lambda x, y: x % y,
    z3.Z3_OP_IDIV: lambda x, y: x // y,
    z3.Z3_OP_XOR: lambda x, y: bool(x) != bool(y),
}

_PB: dict[int, Callable[[int, int], bool]] = {
    z3.Z3_OP_PB_EQ: lambda x, k: x == k,
    z3.Z3_OP_PB_GE: lambda x, k: x >= k,
    z3.Z3_OP_PB_LE: lambda x, k: x <= k,
    z3.Z3_OP_PB_AT_LEAST: lambda x, k: x >= k,
    z3.Z3_OP_PB_AT_MOST: lambda x, k: x <= k,
}


def _lift(c: tuple[bool, Any]) -> Fn:
    if c[0]:
        v = c[1]
        return lambda env: v
    return c[1]  # type: ignore[no-any-return]


# --- one scope's compiled relation ------------------------------------------------------


@dataclass
class _Sub:
    """One sub-action, compiled: its parameters and, per loop level, the guard
    conjuncts decided once the parameters up to that level are bound."""

    a: ActionEnc
    params: list[tuple[str, int, list[Any]]]  # (name, env slot, domain)
    levels: list[list[Fn]]  # levels[0]: no parameter; levels[i]: after param i-1
    updates: list[tuple[int, Fn]]  # (state slot, new value)


def _flatten_and(e: Any) -> list[Any]:
    if z3.is_app_of(e, z3.Z3_OP_AND):
        out = []
        for c in e.children():
            out += _flatten_and(c)
        return out
    return [e]


def _values_eq(a: Any, b: Any) -> bool:
    return bool(a == b) and isinstance(a, bool) == isinstance(b, bool)


class Relation:
    """The encoding's finite reading for one model, compiled (see the module doc)."""

    def __init__(self, model: ParSyncModel, kp: int, kr: int) -> None:
        self.m = model
        self.kp, self.kr = max(1, kp), max(1, kr)
        sc = Scope(model, self.kp, self.kr, exact=True)
        sc.structure()
        self.sc = sc
        enc = sc.enc
        self.enc = enc
        u = sc.u
        S = enc.state("s")
        T = enc.state("t")
        spec = {x.name: x for x in STATE_VARS}
        self.keys: list[tuple[str, tuple[int, ...]]] = []
        slots: dict[int, int] = {}
        self._keep: list[Any] = []
        for name in enc.var_names():
            f = getattr(S, name)
            for idx in sc.all_indices(f.dom):
                ent = f.entry(idx)
                self._keep.append(ent)
                slots[ent.get_id()] = len(self.keys)
                self.keys.append((name, idx))
        self.nstate = len(self.keys)
        self._pc = [i for i, (name, _) in enumerate(self.keys) if name == "pc"]
        self._rc = [i for i, (name, _) in enumerate(self.keys) if name == "rc"]
        # the broker's inbox (contract only): its counts are read like pc's
        self._ic = [i for i, (name, _) in enumerate(self.keys) if name == "ic"]
        self._bases: dict[State, list[Any]] = {}
        self._fcache: dict[Proposal | Reply, dict[str, dict[tuple[int, ...], Any]]] = {}
        self.rng = {name: spec[name].rng for name in enc.var_names()}
        self.fkeys: list[tuple[str, tuple[int, ...]]] = []
        for r in RIGID:
            if not (r.name.startswith("p_") or r.name.startswith("r_")):
                continue
            f = getattr(enc.K, r.name)
            for idx in sc.all_indices(f.dom):
                ent = f.entry(idx)
                self._keep.append(ent)
                slots[ent.get_id()] = self.nstate + len(self.fkeys)
                self.fkeys.append((r.name, idx))
        elems: dict[int, int] = {}
        for srt in ("W", "B", "N", "PM", "RM"):
            for i, el in enumerate(u.elems(srt)):
                elems[el.get_id()] = i
        base = self.nstate + len(self.fkeys)
        self.subs: list[_Sub] = []
        comp = Compiler(slots, elems)
        self.comp = comp
        nparam = 0
        for _g, subs in enc.groups():
            for a in subs:
                ps = enc.params(a, "x")
                pslots: list[tuple[str, int, list[Any]]] = []
                for pname, srt in a.params:
                    x = ps[pname]
                    self._keep.append(x)
                    slot = base + nparam
                    nparam += 1
                    slots[x.get_id()] = slot
                    dom: list[Any] = (
                        list(range(u.P)) if srt == "P" else list(range(len(u.elems(srt))))
                    )
                    pslots.append((pname, slot, dom))
                guard, upd = a.build(S, T, ps)
                self._keep.append(guard)
                order = {slot: i for i, (_, slot, _) in enumerate(pslots)}
                levels: list[list[Fn]] = [[] for _ in range(len(pslots) + 1)]
                for conj in _flatten_and(guard):
                    ds = comp.slots_of(conj)
                    lv = max((order[s] + 1 for s in ds if s in order), default=0)
                    c, v = comp.compile(conj)
                    if c:
                        if not v:
                            levels[0].append(lambda env: False)
                        continue
                    levels[lv].append(v)
                updates: list[tuple[int, Fn]] = []
                for name in enc.var_names():
                    if name not in upd:
                        continue
                    f = getattr(T, name)
                    for idx in sc.all_indices(f.dom):
                        args = sc._idx_elems(f.dom, idx)
                        val = upd[name](*args)
                        self._keep.append(val)
                        updates.append((slots[getattr(S, name).entry(idx).get_id()], comp.fn(val)))
                self.subs.append(_Sub(a, pslots, levels, updates))
        self.env_size = base + nparam
        init = enc.init(S)
        self._keep.append(init)
        self.init_fn = comp.fn(init)

    # --- concrete states --------------------------------------------------------------
    def _base(self, s: State) -> tuple[list[Any], list[int], list[int]]:
        """alpha(s) over s's own messages (cached), and the positions of pc and rc."""
        b = self._bases.get(s)
        if b is None:
            if len(self._bases) > 20000:
                self._bases.clear()
            tb = list(dict.fromkeys((*s.to_broker, *s.inbox)))
            tw = list(dict.fromkeys(s.to_workers))
            v = values(self.m, s, tb, tw)
            b = [v.get(name, {}).get(idx, 0) for name, idx in self.keys]
            self._bases[s] = b
        return b, self._pc, self._rc

    def vector(self, s: State, props: Sequence[Proposal], reps: Sequence[Reply]) -> tuple[Any, ...]:
        """alpha(s) over the message universe ``props``/``reps`` (padded): the
        abstraction function :func:`~parsync.proofs.concrete.values` with the bag
        counts read at the universe's elements."""
        b, pcs, rcs = self._base(s)
        out = list(b)
        tb, tw = s.to_broker, s.to_workers
        for i, slot in enumerate(pcs):
            out[slot] = tb.count(props[i]) if i < len(props) else 0
        for i, slot in enumerate(rcs):
            out[slot] = tw.count(reps[i]) if i < len(reps) else 0
        ib = s.inbox
        for i, slot in enumerate(self._ic):
            out[slot] = ib.count(props[i]) if i < len(props) else 0
        return tuple(out)

    def _msg_fields(self, msg: Proposal | Reply) -> dict[str, dict[tuple[int, ...], Any]]:
        f = self._fcache.get(msg)
        if f is None:
            f = (
                proposal_fields(self.m, msg)
                if isinstance(msg, Proposal)
                else reply_fields(self.m, msg)
            )
            self._fcache[msg] = f
        return f

    def fields(self, props: Sequence[Proposal], reps: Sequence[Reply]) -> list[Any]:
        P = [self._msg_fields(props[i] if i < len(props) else _PAD_P) for i in range(self.kp)]
        R = [self._msg_fields(reps[i] if i < len(reps) else _PAD_R) for i in range(self.kr)]
        return [
            (P if name.startswith("p_") else R)[idx[0]][name][idx[1:]] for name, idx in self.fkeys
        ]

    def successors(
        self, vec: tuple[Any, ...], fields: list[Any]
    ) -> dict[tuple[Any, ...], list[tuple[str, dict[str, int]]]]:
        """The encoding's successors of ``vec``: next vector -> [(sub-action, params)]."""
        env: Env = [*vec, *fields] + [None] * (self.env_size - len(vec) - len(fields))
        out: dict[tuple[Any, ...], list[tuple[str, dict[str, int]]]] = {}
        for sub in self.subs:
            found: list[dict[str, int]] = []
            self._bindings(sub, env, 0, found)
            for binding in found:
                for name, slot, _ in sub.params:
                    env[slot] = binding[name]
                nxt = list(vec)
                for slot, f in sub.updates:
                    nxt[slot] = f(env)
                out.setdefault(tuple(nxt), []).append((sub.a.name, binding))
        return out

    def _bindings(self, sub: _Sub, env: Env, i: int, found: list[dict[str, int]]) -> None:
        for c in sub.levels[i]:
            if not c(env):
                return
        if i == len(sub.params):
            found.append({name: env[slot] for name, slot, _ in sub.params})
            return
        _, slot, dom = sub.params[i]
        for x in dom:
            env[slot] = x
            self._bindings(sub, env, i + 1, found)

    def init_holds(self, vec: tuple[Any, ...], fields: list[Any]) -> bool:
        env: Env = [*vec, *fields] + [None] * (self.env_size - len(vec) - len(fields))
        return bool(self.init_fn(env))

    def label(self, slot: int, props: Sequence[Any] = (), reps: Sequence[Any] = ()) -> str:
        """The entry's name; a bag count names its message when the universe is given."""
        name, idx = self.keys[slot]
        out = f"{name}[{','.join(map(str, idx))}]" if idx else name
        msgs = props if name in ("pc", "ic") else reps if name == "rc" else ()
        if msgs and idx[0] < len(msgs):
            out += f" (copies of {msgs[idx[0]]})"
        return out


# --- candidates: messages the encoding could send -------------------------------------------


def _proposal_candidates(m: ParSyncModel, s: State) -> list[Proposal]:
    out = []
    for wi, w in enumerate(s.workers):
        if not w.up or w.waiting:
            continue
        atts = {w.attempts + 1}
        if m.contract:
            atts |= {1} | {e[2] + 1 for e in w.parked}
        for n in w.pending:
            for bs in itertools.combinations(m.eligible[n], m.gang[n]):
                reads = []
                for b in bs:
                    e = m.view_entry(w, b)
                    reads.append((b, e[0] if e else 0))
                for att in sorted(atts):
                    out.append(
                        Proposal(
                            worker=wi,
                            need=n,
                            priority=m.prio[n],
                            epoch=w.epoch,
                            reads=tuple(reads),
                            cycle=w.cycle,
                            attempt=att,
                            fresh=w.cycle % m.P,
                        )
                    )
    return out


def _reply_candidates(s: State) -> list[Reply]:
    out = []
    for p in dict.fromkeys((*s.to_broker, *s.inbox)):
        for kind in (COMMITTED, ALREADY, FENCED):
            out.append(Reply(p.worker, p.need, kind, p.cycle, p.attempt, ()))
        bs = [b for b, _ in p.reads]
        for k in range(1, len(bs) + 1):
            for sub in itertools.combinations(bs, k):
                out.append(Reply(p.worker, p.need, CONFLICT, p.cycle, p.attempt, sub))
    return out


def _universe(
    m: ParSyncModel, s: State, succ: Sequence[tuple[Action, State]]
) -> tuple[list[Proposal], list[Reply]]:
    props = list(
        dict.fromkeys(
            [
                *sorted(s.to_broker),
                *sorted(s.inbox),
                *sorted(x for _, t in succ for x in (*t.to_broker, *t.inbox)),
                *_proposal_candidates(m, s),
            ]
        )
    )
    reps = list(
        dict.fromkeys(
            [
                *sorted(s.to_workers),
                *sorted(x for _, t in succ for x in t.to_workers),
                *_reply_candidates(s),
            ]
        )
    )
    return props, reps


# --- the check ------------------------------------------------------------------------------


@dataclass
class ScopeResult:
    scope: str
    shape: str
    states: int = 0
    transitions: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's CPU time (the machine may be shared)
    compile_seconds: float = 0.0
    kp: int = 0
    kr: int = 0
    complete: bool = True  # False: a state cap stopped the BFS (never for a tie scope)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.complete


@dataclass
class TieResult:
    scopes: list[ScopeResult]
    seconds: float
    sources: str

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.scopes)

    @property
    def states(self) -> int:
        return sum(r.states for r in self.scopes)

    @property
    def transitions(self) -> int:
        return sum(r.transitions for r in self.scopes)

    @property
    def cpu_seconds(self) -> float:
        return sum(r.cpu_seconds for r in self.scopes)

    def summary(self) -> str:
        if self.ok:
            return (
                f"tie: {self.transitions} transitions of {len(self.scopes)} scopes "
                f"({self.states} states) agree with model/protocol.py "
                f"({self.seconds:.1f}s, {self.cpu_seconds:.1f}s CPU)"
            )
        bad = [r for r in self.scopes if not r.ok]
        return (
            f"tie: FAILED on scope {', '.join(r.scope for r in bad)}: the Z3 encoding and "
            f"model/protocol.py differ"
        )

    def failures(self) -> list[str]:
        out = []
        for r in self.scopes:
            if not r.complete:
                out.append(f"[{r.scope}] the state space was not explored to the end")
            out += r.problems
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "sources": self.sources,
            "seconds": round(self.seconds, 2),
            "states": self.states,
            "transitions": self.transitions,
            "scopes": [
                {
                    "scope": r.scope,
                    "shape": r.shape,
                    "states": r.states,
                    "transitions": r.transitions,
                    "seconds": round(r.seconds, 2),
                    "cpu_seconds": round(r.cpu_seconds, 2),
                    "ok": r.ok,
                    "problems": r.problems[:5],
                }
                for r in self.scopes
            ],
        }


def _render_state(s: State) -> str:
    from parsync.render import state_lines

    return "\n".join("      " + ln for ln in state_lines(s))


def _path(parent: dict[State, tuple[State, Action] | None], s: State) -> list[str]:
    out: list[str] = []
    cur: State | None = s
    while cur is not None:
        p = parent.get(cur)
        if p is None:
            break
        out.append(fmt_action(p[1]))
        cur = p[0]
    return out[::-1]


def check_scope(
    ts: TieScope,
    *,
    max_states: int | None = None,
    max_problems: int = 3,
    model: ParSyncModel | None = None,
) -> ScopeResult:
    """The tie on one scope (exhaustive unless ``max_states`` caps the BFS)."""
    t0 = time.perf_counter()
    c0 = time.process_time()
    m = model if model is not None else ts.model()
    res = ScopeResult(ts.label, ts.shape)
    # the reachable states and their steps, first (the message universe's size is
    # the largest any state needs)
    s0 = m.init_state()
    parent: dict[State, tuple[State, Action] | None] = {s0: None}
    queue = [s0]
    depth = {s0: 0}
    kp = kr = 1
    for s in queue:  # pass 1: the reachable states (and the message universe's size)
        succ = list(m.successors(s))
        props, reps = _universe(m, s, succ)
        kp, kr = max(kp, len(props)), max(kr, len(reps))
        if ts.depth is not None and depth[s] >= ts.depth:
            continue  # its steps are checked; its successors are not expanded
        for a, t in succ:
            if t not in parent:
                parent[t] = (s, a)
                depth[t] = depth[s] + 1
                queue.append(t)
        if max_states is not None and len(parent) > max_states:
            res.complete = False
            break
    del depth
    t1 = time.perf_counter()
    rel = Relation(m, kp, kr)
    res.compile_seconds = time.perf_counter() - t1
    res.kp, res.kr = kp, kr
    where = f"[{ts.label}]"

    def problem(msg: str, s: State) -> None:
        path = _path(parent, s)
        res.problems.append(
            f"{where} {msg}\n    in the state reached by: "
            + (", ".join(path) if path else "(Init)")
            + "\n"
            + _render_state(s)
        )

    # Init: alpha(init) satisfies the encoding's Init, and one entry changed does not
    props, reps = _universe(m, s0, [])
    vec = rel.vector(s0, props, reps)
    flds = rel.fields(props, reps)
    if not rel.init_holds(vec, flds):
        res.problems.append(f"{where} Init: the encoding's Init rejects the model's initial state")
    else:
        for i, val in enumerate(vec):
            alts: list[Any] = [not val] if isinstance(val, bool) else [val + 1, val - 1]
            for alt in alts:
                mv = list(vec)
                mv[i] = alt
                if rel.init_holds(tuple(mv), flds):
                    res.problems.append(
                        f"{where} Init: the encoding's Init also allows {rel.label(i)} = {alt} "
                        f"(the model's initial state has {val})"
                    )
                    break
    for s in queue:  # pass 2: every state's steps against the encoding's
        if len(res.problems) >= max_problems:
            break
        succ = list(m.successors(s))
        props, reps = _universe(m, s, succ)
        res.states += 1
        res.transitions += len(succ)
        vec = rel.vector(s, props, reps)
        flds = rel.fields(props, reps)
        enc_succ = rel.successors(vec, flds)
        py: dict[tuple[Any, ...], list[Action]] = {}
        for a, t in succ:
            py.setdefault(rel.vector(t, props, reps), []).append(a)
        for a, t in succ:
            tv = rel.vector(t, props, reps)
            names = {x.name for x in sub_actions_of(rel.enc, a, s)}
            got = enc_succ.get(tv)
            if got is not None and any(n in names for n, _ in got):
                continue
            if got is not None:
                problem(
                    f"{fmt_action(a)}: the encoding reaches the model's next state only by "
                    f"{', '.join(sorted({n for n, _ in got}))}, not by {', '.join(sorted(names))}",
                    s,
                )
                continue
            problem(_step_missing(rel, a, names, vec, tv, enc_succ, props, reps), s)
        for tv, how in enc_succ.items():
            if tv in py:
                continue
            name, prm = how[0]
            problem(_extra_step(rel, name, prm, vec, tv, py, props, reps), s)
    res.seconds = time.perf_counter() - t0
    res.cpu_seconds = time.process_time() - c0
    return res


def _diff(rel: Relation, a: tuple[Any, ...], b: tuple[Any, ...]) -> list[int]:
    return [i for i in range(rel.nstate) if not _values_eq(a[i], b[i])]


def _show_param(rel: Relation, name: str, srt: str, v: int, props: Any, reps: Any) -> str:
    if srt == "PM":
        return f"{name}={props[v] if v < len(props) else 'pad'}"
    if srt == "RM":
        return f"{name}={reps[v] if v < len(reps) else 'pad'}"
    pre = {"W": "w", "N": "n", "B": "b", "P": "p"}.get(srt, "")
    return f"{name}={pre}{v}"


def _fmt_sub(rel: Relation, name: str, prm: dict[str, int], props: Any, reps: Any) -> str:
    a = rel.enc.action(name)
    srts = dict(a.params)
    return (
        f"{name}("
        + ", ".join(_show_param(rel, k, srts[k], v, props, reps) for k, v in prm.items())
        + ")"
    )


def _entries(
    rel: Relation,
    idx: list[int],
    got: tuple[Any, ...],
    want: tuple[Any, ...],
    props: Sequence[Any] = (),
    reps: Sequence[Any] = (),
) -> str:
    shown = [
        f"{rel.label(i, props, reps)}: Python says {want[i]}, the encoding says {got[i]}"
        for i in idx[:6]
    ]
    more = f" (and {len(idx) - 6} more)" if len(idx) > 6 else ""
    return "; ".join(shown) + more


def _step_missing(
    rel: Relation,
    a: Action,
    names: set[str],
    vec: tuple[Any, ...],
    tv: tuple[Any, ...],
    enc_succ: dict[tuple[Any, ...], list[tuple[str, dict[str, int]]]],
    props: Any,
    reps: Any,
) -> str:
    same = [(v, h) for v, hs in enc_succ.items() for h in hs if h[0] in names]
    if not same:
        return (
            f"{fmt_action(a)}: Python step not in the encoding (no "
            f"{' / '.join(sorted(names))} of the encoding is enabled here); it changes "
            + _changes(rel, vec, tv, props, reps)
        )
    best = min(same, key=lambda x: len(_diff(rel, x[0], tv)))
    d = _diff(rel, best[0], tv)
    return (
        f"{fmt_action(a)}: Python step not in the encoding; the nearest encoding step "
        f"{_fmt_sub(rel, best[1][0], best[1][1], props, reps)} differs in "
        + _entries(rel, d, best[0], tv, props, reps)
    )


def _extra_step(
    rel: Relation,
    name: str,
    prm: dict[str, int],
    vec: tuple[Any, ...],
    tv: tuple[Any, ...],
    py: dict[tuple[Any, ...], list[Action]],
    props: Any,
    reps: Any,
) -> str:
    act = rel.enc.action(name).action
    same = [(v, a) for v, acts in py.items() for a in acts if type(a).__name__ == act]
    head = f"{_fmt_sub(rel, name, prm, props, reps)}: encoding successor the Python model lacks"
    if not same:
        return f"{head} (the model has no {act} step here); it changes " + _changes(
            rel, vec, tv, props, reps
        )
    best = min(same, key=lambda x: len(_diff(rel, x[0], tv)))
    d = _diff(rel, tv, best[0])
    return f"{head}; the nearest model step {fmt_action(best[1])} differs in " + _entries(
        rel, d, tv, best[0], props, reps
    )


def _changes(
    rel: Relation,
    a: tuple[Any, ...],
    b: tuple[Any, ...],
    props: Sequence[Any] = (),
    reps: Sequence[Any] = (),
) -> str:
    d = _diff(rel, a, b)
    s = ", ".join(f"{rel.label(i, props, reps)} {a[i]} -> {b[i]}" for i in d[:8])
    return s + (f" (and {len(d) - 8} more)" if len(d) > 8 else "")


def run_tie(
    scopes: Sequence[TieScope] | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    max_problems: int = 3,
    stop_first: bool = False,
) -> TieResult:
    """The tie on every scope (default: :func:`quick_scopes`); ``stop_first``: stop
    at the first scope on which the two statements differ."""
    t0 = time.perf_counter()
    out = []
    for ts in scopes if scopes is not None else quick_scopes():
        if progress is not None:
            progress(ts.label)
        out.append(check_scope(ts, max_problems=max_problems))
        if stop_first and not out[-1].ok:
            break
    from parsync.proofs.report import source_hash

    return TieResult(out, time.perf_counter() - t0, source_hash())


_MEMO: dict[tuple[Any, ...], TieResult] = {}


def tie_for(
    variant: str | None = None, *, progress: Callable[[str], None] | None = None
) -> TieResult:
    """The quick tie for a command (``prove``, ``bmc``, the gate's prove stage): every
    quick scope, with ``variant`` applied to both statements.

    A passing result is remembered for the process, keyed by the sources hash and
    by the identity of every attribute of ``ParSyncModel`` (so a model patched in
    the process, as the tests do, is checked again).
    """
    from parsync.proofs.report import source_hash

    key = (source_hash(), variant, tuple((k, id(v)) for k, v in vars(ParSyncModel).items()))
    hit = _MEMO.get(key)
    if hit is not None:
        return hit
    scopes = [dataclasses.replace(ts, variant=variant) for ts in quick_scopes()]
    if variant is not None and variant in _CONTRACT_ONLY:
        scopes = [ts for ts in scopes if ts.policy == "contract"]
    res = run_tie(scopes, progress=progress, max_problems=1, stop_first=True)
    if res.ok:
        _MEMO[key] = res
    return res


def certificate_lines(res: TieResult) -> list[str]:
    """The report's section on the tie (Markdown)."""
    L = [
        "## Tie to the checked model",
        "",
        "`parsync/proofs/encoding.py` (what Z3 reads) and `model/protocol.py` (what the",
        "explicit checker, Hypothesis, simulation, conformance and traces run) are two",
        "statements of the protocol; `parsync/proofs/tie.py` checks that they are the same",
        "relation before `prove`, `bmc` or the gate's prove stage may report success. For",
        "every reachable state of each scope below, the successor set the encoding's finite",
        "reading gives equals the Python model's (each step matched to a sub-action of its",
        "action), and Init is the model's initial state. A protocol that differs from the",
        "encoding cannot produce this report: the command fails, naming the scope, the state",
        "and the differing action.",
        "",
        f"- Certificate: **{'agree' if res.ok else 'DIFFER'}**: {res.transitions} transitions "
        f"from {res.states} states of {len(res.scopes)} scopes, at sources hash "
        f"`{res.sources}`",
        f"- Time (information only): {res.seconds:.1f} s",
        "",
        "| scope | shape | states | transitions | outcome |",
        "|---|---|---|---|---|",
    ]
    for r in res.scopes:
        L.append(
            f"| {r.scope} | {r.shape} | {r.states} | {r.transitions} | "
            f"{'agree' if r.ok else '**differ**'} |"
        )
    L += [
        "",
        "Every scope is explored to the end except `pr`, which is bounded by depth (every",
        "state within that many steps of Init); `tests/test_tie.py` runs the exhaustive tie",
        "on larger scopes (the `pr` preset itself among them) under the slow marker.",
        "",
    ]
    return L
