"""The scheduler's static configuration, parsed from the plain config dict.

The conformance suite hands ``reset`` a plain dict (``Config.to_dict()`` of the
spec project); a deployment would load the same fields from its own config
file. Nothing here imports the spec's model: the scheduler owns its settings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

LATENCY_FIRST = "latency-first"
QUALITY_FIRST = "quality-first"
ADAPTIVE = "adaptive"
STRATEGIES = (LATENCY_FIRST, QUALITY_FIRST, ADAPTIVE)


class SettingsError(ValueError):
    """The config dict cannot describe a cluster (one line naming the field)."""


@dataclass(frozen=True)
class NeedSpec:
    """A unit of work: ``gang`` distinct buckets out of ``eligible``, ``size`` units each."""

    owner: int
    priority: int
    arrival: int
    gang: int
    size: int
    eligible: tuple[int, ...]

    def bucket_sets(self) -> tuple[tuple[int, ...], ...]:
        """Every set of buckets the need may be placed on, each sorted, in lexicographic order."""
        return tuple(combinations(sorted(self.eligible), self.gang))


@dataclass(frozen=True)
class Settings:
    workers: int
    partitions: int
    capacities: tuple[int, ...]
    needs: tuple[NeedSpec, ...]
    retry_budget: int
    strategy: str
    max_cycle: int
    partition_map: tuple[int, ...]

    @property
    def buckets(self) -> int:
        return len(self.capacities)

    def partition_of(self, bucket: int) -> int:
        """The deterministic bucket -> partition map every component shares."""
        return self.partition_map[bucket]

    def members(self, partition: int) -> tuple[int, ...]:
        """The buckets of a partition, in increasing order."""
        return tuple(b for b in range(self.buckets) if self.partition_map[b] == partition)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Settings:
        try:
            caps = tuple(_ints(config["capacities"], "capacities"))
            workers = _int(config["workers"], "workers")
            partitions = _int(config["partitions"], "partitions")
            raw_needs = config["needs"]
        except KeyError as e:
            raise SettingsError(f"config is missing {e.args[0]!r}") from None
        if workers < 1 or partitions < 1 or not caps:
            raise SettingsError("config needs at least one worker, partition and bucket")
        pmap_raw = config.get("partition_map")
        if pmap_raw is None:
            pmap = tuple(b % partitions for b in range(len(caps)))
        else:
            pmap = tuple(_ints(pmap_raw, "partition_map"))
            if len(pmap) != len(caps) or any(not 0 <= p < partitions for p in pmap):
                raise SettingsError(f"partition_map {list(pmap)} does not fit the buckets")
        needs = []
        for i, rn in enumerate(raw_needs):
            elig = rn.get("eligible")
            needs.append(
                NeedSpec(
                    owner=_int(rn["owner"], f"needs[{i}].owner"),
                    priority=_int(rn.get("priority", 1), f"needs[{i}].priority"),
                    arrival=_int(rn.get("arrival", 1), f"needs[{i}].arrival"),
                    gang=_int(rn.get("gang", 1), f"needs[{i}].gang"),
                    size=_int(rn.get("size", 1), f"needs[{i}].size"),
                    eligible=tuple(range(len(caps)))
                    if elig is None
                    else tuple(_ints(elig, f"needs[{i}].eligible")),
                )
            )
            if not 0 <= needs[-1].owner < workers:
                raise SettingsError(f"needs[{i}] is owned by unknown worker {needs[-1].owner}")
        strategy = config.get("strategy", QUALITY_FIRST)
        if strategy not in STRATEGIES:
            raise SettingsError(f"unknown strategy {strategy!r}")
        return cls(
            workers=workers,
            partitions=partitions,
            capacities=caps,
            needs=tuple(needs),
            retry_budget=_int(config.get("retry_budget", 1), "retry_budget"),
            strategy=strategy,
            max_cycle=_int(config.get("max_cycle", 3), "max_cycle"),
            partition_map=pmap,
        )


def _int(v: object, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise SettingsError(f"{name} must be an integer, got {v!r}")
    return v


def _ints(v: object, name: str) -> list[int]:
    if not isinstance(v, Sequence) or isinstance(v, str):
        raise SettingsError(f"{name} must be a list of integers, got {v!r}")
    return [_int(x, f"{name}[{i}]") for i, x in enumerate(v)]
