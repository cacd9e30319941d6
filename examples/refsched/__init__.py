"""refsched: a reference ParSync scheduler (ADR-0031), written as a user would write it.

A commit broker and workers run concurrently, each on its own thread, talking
through a network that holds every message in flight:

* :mod:`refsched.broker` - ``CommitBroker``: per-bucket seqno CAS over every
  touched bucket, priority on conflict, idempotent AlreadyPlaced, epoch
  fencing, releases; every decision is written to a ``DurableStore``
  (:mod:`refsched.store`), from which a failover builds the next epoch;
* :mod:`refsched.worker` - ``Worker``: ParSync rotation, carry-forward views,
  the latency-first / quality-first / adaptive strategies, retries, deferral,
  crash and recovery;
* :mod:`refsched.network` - ``Network``: CONTROLLED (moves only when told) or
  FREE (background delivery with random delay, reordering, drops, duplicates);
* :mod:`refsched.cluster` - ``Cluster``: the wiring, failover, observation;
* :mod:`refsched.adapter` - the conformance adapter (``parsync_adapter``).

``refsched.mutants`` holds deliberately broken variants, one mistake each.
Nothing here imports the spec project's ``model``.
"""

from __future__ import annotations

from parsync.refsched.adapter import RefSchedAdapter, parsync_adapter
from parsync.refsched.cluster import Cluster, Components, FreeRun
from parsync.refsched.network import Mode, NetworkFaults
from parsync.refsched.settings import Settings
from parsync.refsched.worker import Pacing

REFERENCE = "parsync.refsched"  # the --parsync-impl target of the reference implementation

__all__ = [
    "REFERENCE",
    "Cluster",
    "Components",
    "FreeRun",
    "Mode",
    "NetworkFaults",
    "Pacing",
    "RefSchedAdapter",
    "Settings",
    "parsync_adapter",
]
