"""Named scopes (the "MC" configurations beside the spec).

Every scope has two workers and two partitions, arrivals in two different
cycles, a gang, releases, and a high- and a low-priority need that compete for
the same buckets, because some design bugs only show with all of those.

* ``small``: the default; seconds. Network faults and failover, no crashes.
* ``pr``: the largest scope that fits a pre-merge budget; adds worker crashes,
  so that each of the twelve design variants (``VARIANTS``) is reachable (a test
  asserts it). The capacity mistakes need ``capacity`` or ``three-partitions``.
  Under the contract policy (every scheduling policy's behaviours, many more
  states) its exhaustive scope is ``pr``'s crash alone (``Preset.contract``):
  with all three faults, or crash and failover, the contract does not fit the
  pre-merge budget; drops with failover are ``small``'s contract scope.
* ``nightly``: the ``pr`` faults over three cycles (about ten million states).
  Message duplication multiplies the state space beyond what a night of
  exhaustive search covers (more than 22M states at depth 23 for two cycles);
  it is exercised by the Hypothesis engine's wide scope and by the
  conformance suite instead.

Three more scopes exercise what the others leave fixed (capacity 1, size 1,
every bucket eligible, ``b mod P``, two partitions, adaptive):

* ``capacity``: buckets of capacity 2, 3 and 1, needs of size 1 and 2 with
  ``eligible`` subsets, a non-default ``partition_map``, quality-first, drops;
  the capacity mistakes (``room-as-used-below-cap``, ``used-counts-claims``)
  are reachable here and nowhere else.
* ``three-partitions``: P = 3 over three cycles (a full rotation), latency-first,
  a size-2 need, a gang inside one partition, drops and failover.
* ``duplicates``: ``small`` with message duplication (and failover) in place of
  drops: the one exhaustive scope with ``duplicate = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from parsync.model.config import Config, Faults, Need

# n0: worker 0, low priority, arrives in cycle 1
# n1: worker 1, high priority, arrives in cycle 1 (competes with n0)
# n2: worker 0, a gang over both buckets (one per partition), arrives in cycle 2
_NEEDS = (
    Need(owner=0, priority=1, arrival=1),
    Need(owner=1, priority=2, arrival=1),
    Need(owner=0, priority=1, arrival=2, gang=2),
)

# pr: both workers' needs, crashes, drops and failover over two cycles
_PR = Config(
    workers=2,
    partitions=2,
    capacities=(1, 1),
    needs=_NEEDS,
    retry_budget=1,
    strategy="adaptive",
    max_cycle=2,
    faults=Faults(crash=1, drop=1, failover=1),
)


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    config: Config
    #: the scope exhaustive search uses under the contract policy, when the preset's own
    #: is too large for its budget there (the contract has every policy's behaviours);
    #: None: the same scope under both policies
    contract: Config | None = None
    #: what the contract scope leaves out, said wherever it is used
    contract_note: str = ""

    def config_for(self, policy: str) -> Config:
        """The scope ``parsync check --preset NAME --policy POLICY`` explores."""
        return self.contract if policy == "contract" and self.contract is not None else self.config


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "small",
            "default, seconds: drops and failover, no crashes",
            Config(
                workers=2,
                partitions=2,
                capacities=(1, 1),
                needs=_NEEDS,
                retry_budget=1,
                strategy="adaptive",
                max_cycle=2,
                faults=Faults(drop=1, failover=1),
            ),
        ),
        Preset(
            "pr",
            "pre-merge: crashes, drops and failover; reaches the twelve design variants",
            _PR,
            contract=replace(_PR, faults=Faults(crash=1)),
            contract_note=(
                "pr's crash alone: the contract with pr's three faults, or with crash and "
                "failover, is too large for the pre-merge budget; drops with failover are "
                "small's contract scope (docs/contract.md)"
            ),
        ),
        Preset(
            "nightly",
            "nightly, minutes: the pr faults over three cycles (about 10M states)",
            Config(
                workers=2,
                partitions=2,
                capacities=(1, 1),
                needs=_NEEDS,
                retry_budget=1,
                strategy="adaptive",
                max_cycle=3,
                faults=Faults(crash=1, drop=1, failover=1),
            ),
        ),
        Preset(
            "capacity",
            "capacity 2-3, sizes 1-2, eligible subsets, a partition map, quality-first",
            Config(
                workers=2,
                partitions=2,
                capacities=(2, 3, 1),
                needs=(
                    Need(owner=0, priority=1, arrival=1, size=2, eligible=(0, 1)),
                    Need(owner=1, priority=2, arrival=1),
                    Need(owner=0, priority=1, arrival=2, gang=2, eligible=(0, 2)),
                ),
                retry_budget=1,
                strategy="quality-first",
                max_cycle=2,
                faults=Faults(drop=1),
                partition_map=(0, 1, 1),
            ),
        ),
        Preset(
            "three-partitions",
            "P=3 over a full rotation, latency-first, a size-2 need, drops and failover",
            Config(
                workers=2,
                partitions=3,
                capacities=(1, 2, 1, 1),
                needs=(
                    Need(owner=0, priority=1, arrival=1, eligible=(1, 2)),
                    Need(owner=1, priority=2, arrival=1, size=2, eligible=(1,)),
                    Need(owner=1, priority=1, arrival=2, gang=2, eligible=(0, 3)),
                ),
                retry_budget=1,
                strategy="latency-first",
                max_cycle=3,
                faults=Faults(drop=1, failover=1),
            ),
        ),
        Preset(
            "duplicates",
            "small with message duplication and failover: the exhaustive duplicate scope",
            Config(
                workers=2,
                partitions=2,
                capacities=(1, 1),
                needs=_NEEDS,
                retry_budget=1,
                strategy="adaptive",
                max_cycle=2,
                faults=Faults(duplicate=1, failover=1),
            ),
        ),
        Preset(
            "twins",
            "symmetry: two interchangeable workers, two interchangeable buckets per partition",
            Config(
                workers=2,
                partitions=2,
                capacities=(1, 1, 1, 1),
                needs=(
                    Need(owner=0, priority=1, arrival=1, gang=2),
                    Need(owner=1, priority=1, arrival=1, gang=2),
                ),
                retry_budget=1,
                strategy="adaptive",
                max_cycle=2,
                faults=Faults(failover=1),
            ),
        ),
    )
}

DEFAULT_PRESET = "small"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}") from None
