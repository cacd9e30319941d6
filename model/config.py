"""CONSTANTS of the ParSync model: a frozen, validated :class:`Config`.

A Config fixes everything TLA+ would put in ``CONSTANTS``: the workers, the
partitions and the buckets (with their capacities and the deterministic
``partition_of`` map shared by broker and workers), the needs (owner,
priority, arrival cycle, demand: one bucket or a gang of buckets that commit
atomically), the retry budget R, the partition-selection strategy, the cycle
bound (a state constraint) and the fault switches with their bounds.

Every invalid combination raises :class:`ConfigError` with one line that names
the offending field, so the command line can print it and exit 2.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STRATEGIES = ("latency-first", "quality-first", "adaptive")


class ConfigError(ValueError):
    """A Config (or a file describing one) is not valid; the message says why."""


@dataclass(frozen=True)
class Need:
    """One unit of work owned by a worker.

    ``gang`` distinct buckets out of ``eligible`` (every bucket when None) must
    each hold ``size`` units; a gang commits atomically or not at all.
    """

    owner: int
    priority: int = 1
    arrival: int = 1
    gang: int = 1
    size: int = 1
    eligible: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Faults:
    """Fault switches: each is the number of times the fault may happen (0 = off)."""

    crash: int = 0
    drop: int = 0
    duplicate: int = 0
    failover: int = 0
    # timeouts of a worker whose proposal or reply is still in flight (the contract
    # policy only: the reference times out only once both are lost, unbudgeted)
    timeout: int = 0
    # extra fresh reads (Refresh) beyond the rotation's: not a fault, but like the
    # faults a per-run budget of an optional step (contract policy only)
    extra_read: int = 0


@dataclass(frozen=True)
class Config:
    workers: int
    partitions: int
    capacities: tuple[int, ...]
    needs: tuple[Need, ...]
    retry_budget: int = 1
    strategy: str = "quality-first"
    max_cycle: int = 3
    faults: Faults = field(default_factory=Faults)
    partition_map: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        _validate(self)

    # --- derived constants -------------------------------------------------
    @property
    def buckets(self) -> int:
        return len(self.capacities)

    def partition_of(self, b: int) -> int:
        """Deterministic bucket -> partition map, shared by broker and every worker."""
        if self.partition_map is not None:
            return self.partition_map[b]
        return b % self.partitions

    def members(self, p: int) -> tuple[int, ...]:
        """The buckets of partition ``p``, in increasing order."""
        return tuple(b for b in range(self.buckets) if self.partition_of(b) == p)

    def eligible(self, n: int) -> tuple[int, ...]:
        e = self.needs[n].eligible
        return tuple(range(self.buckets)) if e is None else e

    def describe(self) -> str:
        gangs = sum(1 for n in self.needs if n.gang > 1)
        f = self.faults
        return (
            f"W={self.workers} P={self.partitions} B={self.buckets} "
            f"caps={list(self.capacities)} needs={len(self.needs)} (gangs={gangs}) "
            f"R={self.retry_budget} strategy={self.strategy} cycles<={self.max_cycle} "
            f"faults(crash={f.crash}, drop={f.drop}, dup={f.duplicate}, failover={f.failover}"
            + (f", timeout={f.timeout}" if f.timeout else "")
            + (f", extra_read={f.extra_read}" if f.extra_read else "")
            + ")"
        )

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "workers": self.workers,
            "partitions": self.partitions,
            "capacities": list(self.capacities),
            "retry_budget": self.retry_budget,
            "strategy": self.strategy,
            "max_cycle": self.max_cycle,
            "faults": {
                "crash": self.faults.crash,
                "drop": self.faults.drop,
                "duplicate": self.faults.duplicate,
                "failover": self.faults.failover,
                # written only when set, so earlier scopes keep their exact form
                **({"timeout": self.faults.timeout} if self.faults.timeout else {}),
                **({"extra_read": self.faults.extra_read} if self.faults.extra_read else {}),
            },
            "needs": [
                {
                    "owner": n.owner,
                    "priority": n.priority,
                    "arrival": n.arrival,
                    "gang": n.gang,
                    "size": n.size,
                    **({"eligible": list(n.eligible)} if n.eligible is not None else {}),
                }
                for n in self.needs
            ],
        }
        if self.partition_map is not None:
            d["partition_map"] = list(self.partition_map)
        return d


def _nonneg_int(name: str, v: object, minimum: int = 0) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ConfigError(f"{name} must be an integer, got {v!r}")
    if v < minimum:
        raise ConfigError(f"{name} must be >= {minimum}, got {v}")
    return v


def _validate(c: Config) -> None:
    _nonneg_int("workers", c.workers, 1)
    _nonneg_int("partitions", c.partitions, 1)
    if not isinstance(c.capacities, tuple) or not c.capacities:
        raise ConfigError("capacities must be a non-empty list of bucket capacities")
    for b, cap in enumerate(c.capacities):
        _nonneg_int(f"capacities[{b}]", cap, 0)
    _nonneg_int("retry_budget", c.retry_budget, 0)
    _nonneg_int("max_cycle", c.max_cycle, 1)
    if c.strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}; got {c.strategy!r}")
    for fname in ("crash", "drop", "duplicate", "failover", "timeout", "extra_read"):
        _nonneg_int(f"faults.{fname}", getattr(c.faults, fname), 0)
    if c.partition_map is not None:
        if len(c.partition_map) != len(c.capacities):
            raise ConfigError(
                f"partition_map has {len(c.partition_map)} entries but there are "
                f"{len(c.capacities)} buckets"
            )
        for b, p in enumerate(c.partition_map):
            if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < c.partitions:
                raise ConfigError(
                    f"partition_map[{b}] = {p!r} is not a partition in 0..{c.partitions - 1}"
                )
    if not c.needs:
        raise ConfigError("needs must list at least one need")
    for i, n in enumerate(c.needs):
        if isinstance(n.owner, bool) or not isinstance(n.owner, int):
            raise ConfigError(f"needs[{i}].owner must be an integer, got {n.owner!r}")
        if not 0 <= n.owner < c.workers:
            raise ConfigError(
                f"needs[{i}] is owned by worker {n.owner}, which does not exist "
                f"(workers are 0..{c.workers - 1})"
            )
        _nonneg_int(f"needs[{i}].priority", n.priority, 0)
        _nonneg_int(f"needs[{i}].arrival", n.arrival, 1)
        _nonneg_int(f"needs[{i}].gang", n.gang, 1)
        _nonneg_int(f"needs[{i}].size", n.size, 1)
        elig = tuple(range(len(c.capacities))) if n.eligible is None else n.eligible
        for b in elig:
            if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < len(c.capacities):
                raise ConfigError(
                    f"needs[{i}] names unknown bucket {b!r} "
                    f"(buckets are 0..{len(c.capacities) - 1})"
                )
        if len(set(elig)) != len(elig):
            raise ConfigError(f"needs[{i}].eligible lists a bucket twice: {list(elig)}")
        if n.gang > len(elig):
            raise ConfigError(
                f"needs[{i}] is a gang of {n.gang} buckets but only {len(elig)} are eligible"
            )


_TOP_KEYS = {
    "workers",
    "partitions",
    "capacities",
    "needs",
    "retry_budget",
    "strategy",
    "max_cycle",
    "faults",
    "partition_map",
}
_NEED_KEYS = {"owner", "priority", "arrival", "gang", "size", "eligible"}
_FAULT_KEYS = {"crash", "drop", "duplicate", "failover", "timeout", "extra_read"}


def _int_list(name: str, v: object) -> tuple[int, ...]:
    if not isinstance(v, list):
        raise ConfigError(f"{name} must be a list of integers, got {v!r}")
    return tuple(v)


def config_from_dict(d: object) -> Config:
    """Build a Config from plain data (a parsed TOML/JSON document)."""
    if not isinstance(d, dict):
        raise ConfigError("a config must be a table/object of fields")
    unknown = sorted(set(d) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
    for req in ("workers", "partitions", "capacities", "needs"):
        if req not in d:
            raise ConfigError(f"missing required config field {req!r}")
    raw_needs = d["needs"]
    if not isinstance(raw_needs, list):
        raise ConfigError("needs must be a list of tables ([[needs]] in TOML)")
    needs = []
    for i, rn in enumerate(raw_needs):
        if not isinstance(rn, dict):
            raise ConfigError(f"needs[{i}] must be a table")
        bad = sorted(set(rn) - _NEED_KEYS)
        if bad:
            raise ConfigError(f"needs[{i}] has unknown field(s): {', '.join(bad)}")
        if "owner" not in rn:
            raise ConfigError(f"needs[{i}] is missing 'owner'")
        elig = rn.get("eligible")
        needs.append(
            Need(
                owner=rn["owner"],
                priority=rn.get("priority", 1),
                arrival=rn.get("arrival", 1),
                gang=rn.get("gang", 1),
                size=rn.get("size", 1),
                eligible=None if elig is None else _int_list(f"needs[{i}].eligible", elig),
            )
        )
    rf = d.get("faults", {})
    if not isinstance(rf, dict):
        raise ConfigError("faults must be a table")
    bad = sorted(set(rf) - _FAULT_KEYS)
    if bad:
        raise ConfigError(f"faults has unknown field(s): {', '.join(bad)}")
    pm = d.get("partition_map")
    return Config(
        workers=d["workers"],
        partitions=d["partitions"],
        capacities=_int_list("capacities", d["capacities"]),
        needs=tuple(needs),
        retry_budget=d.get("retry_budget", 1),
        strategy=d.get("strategy", "quality-first"),
        max_cycle=d.get("max_cycle", 3),
        faults=Faults(**rf),
        partition_map=None if pm is None else _int_list("partition_map", pm),
    )


def load_config(path: str | Path) -> Config:
    """Read a TOML config file; any problem becomes a one-line ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config {p}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:  # TOML is UTF-8 by definition
        raise ConfigError(f"{p}: not valid TOML: not UTF-8 text ({e.reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{p}: not valid TOML: {e}") from None
    try:
        return config_from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
    except TypeError as e:  # e.g. a field of the wrong type reaching a dataclass
        raise ConfigError(f"{p}: {e}") from None
