"""The logic layer under the symbolic encoding: sorts, quantifiers, functions.

The protocol is encoded once (``encoding.py``) against a :class:`Universe`,
which decides what the sorts are and how quantifiers and function updates are
written:

* :class:`ParamUniverse` - the *parametric* reading used by the inductive
  proofs: workers, buckets, needs and the two message kinds are uninterpreted
  sorts (any size), partitions are the integers ``0 .. P-1`` for a symbolic
  ``P``, every quantifier is a real Z3 quantifier, and state functions are Z3
  arrays (so "unchanged" is one array equality and an update is a lambda).
* :class:`FiniteUniverse` - one concrete scope: every sort is a Z3 enumeration
  of known elements, ``P`` is a number, every quantifier is expanded into a
  finite conjunction/disjunction, and state functions are uninterpreted
  functions applied to ground terms only (quantifier-free, fast). Used by
  bounded model checking and by the differential test against the Python
  model.

Sort names used throughout: ``W`` workers, ``B`` buckets, ``N`` needs,
``PM`` proposals, ``RM`` replies, ``P`` partitions (always ``Int``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import z3  # type: ignore[import-untyped]

SORTS: tuple[str, ...] = ("W", "B", "N", "PM", "RM")
PART = "P"
# cycles 0..max_cycle as an index (the dedup-by-worker-cycle variant's tag memory):
# Int-valued like PART; a finite universe enumerates ``cycles`` of them
CYCLE = "CY"

Body = Callable[..., Any]


class Fn:
    """A (state or rigid) function of the encoding; scalars have an empty domain.

    Parametric universes make it a Z3 array (state) or array constant (rigid);
    finite universes make it one Z3 constant per index tuple (created lazily),
    read at a symbolic index through an if-then-else chain over the elements,
    and a *pinned* entry is a known value folded straight into the formulas.
    """

    def __init__(
        self, u: Universe, name: str, dom: tuple[str, ...], rng: z3.SortRef, rng_name: str = ""
    ) -> None:
        self.u = u
        self.rng_name = rng_name
        self.name = name
        self.dom = dom
        self.rng = rng
        self.array = u.use_arrays and bool(dom)
        self.table: dict[tuple[int, ...], Any] = {}
        if u.finite:
            self.z: Any = None
        elif not dom:
            self.z = z3.Const(name, rng)
        else:
            self.z = z3.Array(name, *[u.sort(d) for d in dom], rng)

    def entry(self, idx: tuple[int, ...]) -> Any:
        """The finite table entry at ``idx`` (a constant, or its pinned value)."""
        e = self.table.get(idx)
        if e is None:
            label = ",".join(map(str, idx))
            e = z3.Const(f"{self.name}[{label}]" if idx else self.name, self.rng)
            self.table[idx] = e
            if isinstance(self.u, FiniteUniverse):
                self.u.note(e, self.rng_name)
        return e

    def pin(self, idx: tuple[int, ...], value: Any) -> None:
        self.table[idx] = value

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self.dom):
            raise TypeError(f"{self.name} takes {len(self.dom)} arguments, got {len(args)}")
        if not self.u.finite:
            if not self.dom:
                return self.z
            return z3.Select(self.z, *args)
        u = self.u
        assert isinstance(u, FiniteUniverse)
        return self._select(u, list(args), ())

    def _select(self, u: FiniteUniverse, args: list[Any], idx: tuple[int, ...]) -> Any:
        if not args:
            return self.entry(idx)
        d = self.dom[len(idx)]
        a = args[0]
        i = u.concrete_index(d, a)
        if i is not None:
            return self._select(u, args[1:], (*idx, i))
        els = u.elems(d)[: u.live.get(d)]
        out = self._select(u, args[1:], (*idx, len(els) - 1))
        for j in range(len(els) - 2, -1, -1):
            out = z3.If(a == els[j], self._select(u, args[1:], (*idx, j)), out)
        return out

    def define(self, body: Body) -> z3.BoolRef:
        """``self(x..) == body(x..)`` for every index tuple."""
        if not self.dom and not self.u.finite:
            return self.z == body()
        return self.u.define(self, body)

    def same(self, other: Fn) -> z3.BoolRef:
        """Frame condition: ``self`` equals ``other`` everywhere."""
        if self.array and other.array:
            return self.z == other.z
        if not self.dom and not self.u.finite:
            return self.z == other.z
        return self.define(lambda *x: other(*x))


class Universe:
    """Sorts, quantifiers and function construction (see module docstring)."""

    finite: bool = False
    use_arrays: bool = False
    P: Any = None  # the number of partitions (a term parametrically, an int when finite)

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self._n = 0

    # --- sorts -----------------------------------------------------------------
    def sort(self, name: str) -> z3.SortRef:
        raise NotImplementedError

    def fresh(self, name: str, sort: str) -> Any:
        self._n += 1
        return z3.Const(f"{name}!{self.tag}{self._n}", self.sort(sort))

    def int_sort(self) -> z3.SortRef:
        """The sort of numbers (Int; bit-vectors in a finite universe that asks for them)."""
        return z3.IntSort()

    def num(self, v: int) -> Any:
        return z3.IntVal(v)

    def mod(self, a: Any, b: Any) -> Any:
        return a % b

    def fn(self, name: str, dom: tuple[str, ...], rng: z3.SortRef) -> Fn:
        return Fn(self, f"{name}{self.suffix()}", dom, rng)

    def suffix(self) -> str:
        return ""

    # --- quantifiers -------------------------------------------------------------
    def forall(self, sorts: Sequence[str], body: Body, P: Any = None) -> z3.BoolRef:
        raise NotImplementedError

    def exists(self, sorts: Sequence[str], body: Body, P: Any = None) -> z3.BoolRef:
        raise NotImplementedError

    def define(self, f: Fn, body: Body) -> z3.BoolRef:
        raise NotImplementedError

    def aux_pred(self, name: str, body: Body) -> tuple[Body, Any]:
        """A predicate on partitions (Int) for use inside an update: (predicate, its definition).

        Finite universes inline ``body``; the parametric one names it with a fresh
        function defined by a quantifier, so no quantifier sits inside a lambda.
        """
        if self.finite:
            return body, z3.BoolVal(True)
        self._n += 1
        f = z3.Function(f"{name}!{self.tag}{self._n}", z3.IntSort(), z3.BoolSort())
        q = z3.Int(f"q{self._n}")
        return f, z3.ForAll([q], f(q) == body(q))


class ParamUniverse(Universe):
    """Uninterpreted sorts, real quantifiers, arrays for state (parametric proofs)."""

    finite = False
    use_arrays = True

    def __init__(self, tag: str = "") -> None:
        super().__init__(tag)
        self._sorts = {s: z3.DeclareSort(f"{s}{tag}") for s in SORTS}
        self.P: Any = None  # the symbolic partition count, set by the encoding

    def sort(self, name: str) -> z3.SortRef:
        if name in (PART, CYCLE):
            return z3.IntSort()
        return self._sorts[name]

    def _bound(self, sorts: Sequence[str]) -> tuple[list[Any], Any]:
        xs = []
        guards = []
        for s in sorts:
            self._n += 1
            x = z3.Const(f"{s.lower()}{self._n}", self.sort(s))
            xs.append(x)
            if s == PART:
                guards.append(z3.And(0 <= x, x < self.P))
        return xs, (z3.And(*guards) if guards else None)

    def forall(self, sorts: Sequence[str], body: Body, P: Any = None) -> z3.BoolRef:
        xs, g = self._bound(sorts)
        b = body(*xs)
        return z3.ForAll(xs, b if g is None else z3.Implies(g, b))

    def exists(self, sorts: Sequence[str], body: Body, P: Any = None) -> z3.BoolRef:
        xs, g = self._bound(sorts)
        b = body(*xs)
        return z3.Exists(xs, b if g is None else z3.And(g, b))

    def define(self, f: Fn, body: Body) -> z3.BoolRef:
        self._n += 1
        xs = [z3.Const(f"{d.lower()}{self._n}_{i}", self.sort(d)) for i, d in enumerate(f.dom)]
        if f.array:
            return f.z == z3.Lambda(xs, body(*xs))
        return z3.ForAll(xs, f(*xs) == body(*xs))


class FiniteUniverse(Universe):
    """One concrete scope: enumerated sorts, expanded quantifiers (BMC, differential tests)."""

    finite = True
    use_arrays = False
    _count = itertools.count()

    def __init__(
        self,
        sizes: dict[str, int],
        P: int,
        tag: str = "",
        *,
        bv_width: int | None = None,
        cycles: int = 1,
    ) -> None:
        super().__init__(tag or f"f{next(FiniteUniverse._count)}")
        self.bv_width = bv_width
        self.cycles = cycles
        self.sizes = dict(sizes)
        self.P = P
        self._sorts: dict[str, z3.SortRef] = {}
        self._elems: dict[str, list[Any]] = {}
        self.ranges: list[Any] = []  # bit-vector mode: domain constraints of element terms
        # sort -> L: a symbolic element of that sort is known to be one of the
        # first L elements (set while a BMC step is built, with the matching range
        # constraint), so a read at it is a chain over those L only
        self.live: dict[str, int] = {}
        for s in SORTS:
            k = max(1, sizes.get(s, 0))  # an empty sort is not allowed; 1 unused element
            if bv_width is None:
                srt, consts = z3.EnumSort(
                    f"{s}_{self.tag}", [f"{s.lower()}{i}_{self.tag}" for i in range(k)]
                )
                elems = list(consts)
            else:  # elements are the numbers 0..k-1 (a finite-domain, SAT-friendly reading)
                srt = z3.BitVecSort(max(1, (k - 1).bit_length()))
                elems = [z3.BitVecVal(i, srt) for i in range(k)]
            self._sorts[s] = srt
            self._elems[s] = elems[: sizes.get(s, 0)]
            self._elems[s + "*"] = elems
        self._ids = {s: {e.get_id(): i for i, e in enumerate(self._elems[s + "*"])} for s in SORTS}

    def note(self, x: Any, sort: str) -> None:
        """Bit-vector mode: a free term of an element sort ranges over its elements only."""
        if self.bv_width is not None and sort in SORTS:
            n = len(self._elems[sort + "*"])
            if 1 << x.sort().size() > n:
                self.ranges.append(z3.ULT(x, n))

    def fresh(self, name: str, sort: str) -> Any:
        x = super().fresh(name, sort)
        self.note(x, sort)
        return x

    def sort(self, name: str) -> z3.SortRef:
        if name in (PART, CYCLE):
            return self.int_sort()
        return self._sorts[name]

    def int_sort(self) -> z3.SortRef:
        return z3.IntSort() if self.bv_width is None else z3.BitVecSort(self.bv_width)

    def num(self, v: int) -> Any:
        if self.bv_width is None:
            return z3.IntVal(v)
        lim = 1 << (self.bv_width - 1)
        if not -lim <= v < lim:
            raise OverflowError(f"{v} does not fit a {self.bv_width}-bit number")
        return z3.BitVecVal(v, self.bv_width)

    def mod(self, a: Any, b: Any) -> Any:
        # bvsmod takes the sign of the divisor: for the positive P it is the
        # Euclidean mod of the Int reading (a lemma's ``(cycle - p) mod P`` may
        # take a negative left side)
        return a % b  # on bit-vectors z3py's % is bvsmod

    def elems(self, name: str) -> list[Any]:
        if name == PART:
            return [self.num(i) for i in range(self.P)]
        if name == CYCLE:
            return [self.num(i) for i in range(self.cycles)]
        return self._elems[name + "*"]

    def real(self, name: str) -> list[Any]:
        """The elements that stand for real things (an empty sort has a padding element)."""
        if name in (PART, CYCLE):
            return self.elems(name)
        return self._elems[name]

    def index(self, name: str, e: Any) -> int:
        i = self.concrete_index(name, e)
        if i is None:
            raise ValueError(f"{e} is not an element of {name}")
        return i

    def concrete_index(self, name: str, e: Any) -> int | None:
        """The element index of ``e`` if it is literally an element, else None."""
        if name in (PART, CYCLE):
            if z3.is_int_value(e) or z3.is_bv_value(e):
                v = e.as_long()
                return v if 0 <= v < (self.P if name == PART else self.cycles) else None
            return None
        if self.bv_width is not None:
            if z3.is_bv_value(e):
                v = e.as_long()
                return v if v < len(self._elems[name + "*"]) else None
            return None
        return self._ids[name].get(e.get_id())

    def _tuples(self, sorts: Sequence[str]) -> list[tuple[Any, ...]]:
        return list(itertools.product(*[self.elems(s) for s in sorts]))

    def forall(self, sorts: Sequence[str], body: Body, P: Any = None) -> z3.BoolRef:
        return z3.And(*[body(*t) for t in self._tuples(sorts)], z3.BoolVal(True))

    def exists(self, sorts: Sequence[str], body: Body, P: Any = None) -> z3.BoolRef:
        return z3.Or(*[body(*t) for t in self._tuples(sorts)], z3.BoolVal(False))

    def define(self, f: Fn, body: Body) -> z3.BoolRef:
        out = []
        for idx in itertools.product(*[range(len(self.elems(d))) for d in f.dom]):
            args = [self.elems(d)[i] for d, i in zip(f.dom, idx, strict=True)]
            lhs = f.entry(idx)
            rhs = body(*args)
            if _is_value(lhs) and _is_value(rhs):  # both known: decide here
                if not lhs.eq(rhs):
                    return z3.BoolVal(False)
                continue
            out.append(lhs == rhs)
        return z3.And(*out, z3.BoolVal(True))


def _is_value(x: Any) -> bool:
    return bool(
        z3.is_int_value(x)
        or z3.is_true(x)
        or z3.is_false(x)
        or z3.is_bv_value(x)
        or (z3.is_const(x) and x.decl().kind() == z3.Z3_OP_DT_CONSTRUCTOR)
    )
