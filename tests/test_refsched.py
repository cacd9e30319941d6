"""Tests of the reference scheduler itself (``examples/refsched``).

Nothing here imports ``model``: the scheduler is checked against hand-worked
expectations (controlled mode, step by step), against its own invariants on
free-running workloads, and its mutants against the reference. The lockstep
comparison with the model lives apart, in ``test_refsched_lockstep.py``.
"""

from __future__ import annotations

import importlib
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from parsync import refsched
from parsync.conformance.adapter import STEP_METHODS
from parsync.refsched import Cluster, FreeRun, Mode, NetworkFaults, RefSchedAdapter, Settings
from parsync.refsched.actor import THREAD_PREFIX, StepTimeout
from parsync.refsched.adapter import AdapterStepError
from parsync.refsched.mutants import MUTANT_NAMES, MUTANTS
from parsync.refsched.network import UnknownMessage
from parsync.refsched.worker import NothingToSchedule, Worker, WorkerDown


def _threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


@pytest.fixture(autouse=True)
def no_thread_leaks() -> Iterator[None]:
    assert _threads() == [], "threads left over from an earlier test"
    yield
    assert _threads() == [], "close() must join every thread"


@pytest.fixture
def ad() -> Iterator[RefSchedAdapter]:
    a = refsched.parsync_adapter()
    yield a
    a.close()


def config(**over: Any) -> dict[str, Any]:
    """Two workers, two partitions (b0 in p0, b1 in p1), a contested pair and a gang."""
    base: dict[str, Any] = {
        "workers": 2,
        "partitions": 2,
        "capacities": [1, 2],
        "needs": [
            {"owner": 0, "priority": 1, "arrival": 1},
            {"owner": 1, "priority": 2, "arrival": 1},
            {"owner": 0, "priority": 1, "arrival": 2, "gang": 2},
        ],
        "retry_budget": 1,
        "strategy": "adaptive",
        "max_cycle": 4,
        "faults": {"crash": 1, "drop": 1, "duplicate": 1, "failover": 1},
    }
    base.update(over)
    return base


def msgs(obs: Mapping[str, Any], to: str | None = None) -> list[dict[str, Any]]:
    return [m for m in obs["messages"] if to is None or m["to"] == to]


def only_id(obs: Mapping[str, Any], to: str, **match: Any) -> str:
    found = [m["id"] for m in msgs(obs, to) if all(m[k] == v for k, v in match.items())]
    assert len(found) == 1, (to, match, obs["messages"])
    return found[0]


def w(obs: Mapping[str, Any], i: int) -> dict[str, Any]:
    return dict(obs["workers"][i])


# --- the observation --------------------------------------------------------------------


def test_factory_and_observation_shape(ad: RefSchedAdapter) -> None:
    assert refsched.REFERENCE == "parsync.refsched"
    assert all(callable(getattr(ad, name)) for name in STEP_METHODS)
    ad.reset(config(partition_map=[1, 0]))
    obs = ad.observe()
    assert set(obs) == {"broker", "workers", "messages"}
    assert obs["broker"] == {"epoch": 0, "seq": [0, 0], "claims": [[], []], "ledger": [[], [], []]}
    assert obs["messages"] == []
    for i in range(2):
        assert w(obs, i) == {
            "up": True,
            "cycle": 0,
            "mode": "quality-first",  # adaptive starts quality-first
            "fresh_at": [0, 0],  # the bootstrap read of every partition at cycle 0
            "view": [[[[0, 0]]], [[[0, 0]]]],
            "pending": [],
            "waiting": False,
            "retries": 0,
        }
    ad.start_cycle(0)
    ad.schedule(0)
    (m,) = msgs(ad.observe())
    assert set(m) == {"id", "to", "worker", "need", "epoch", "priority", "reads", "at"}
    assert isinstance(m["id"], str) and m["to"] == "broker"
    assert m["at"] == "inbox"  # controlled mode: a proposal joins the broker's queue at once
    ad.broker_step()
    (r,) = msgs(ad.observe())
    assert set(r) == {"id", "to", "worker", "need", "kind", "buckets"}
    assert (r["to"], r["kind"], r["buckets"]) == ("worker", "committed", [])


# --- controlled mode, step by step ----------------------------------------------------


def test_priority_conflict_retry_gang_and_releases(ad: RefSchedAdapter) -> None:
    ad.reset(config())
    ad.start_cycle(0)
    ad.start_cycle(1)
    obs = ad.observe()
    for i, need in ((0, 0), (1, 1)):
        assert w(obs, i)["cycle"] == 1
        assert w(obs, i)["fresh_at"] == [0, 1]  # cycle 1 refreshes partition 1 mod 2
        assert w(obs, i)["pending"] == [need]

    # both pick b1 (most free room by the view); the broker takes priority 2 first
    ad.schedule(0)
    ad.schedule(1)
    obs = ad.observe()
    assert [(m["worker"], m["reads"], m["priority"]) for m in msgs(obs)] == [
        (0, [[1, 0]], 1),
        (1, [[1, 0]], 2),
    ]
    assert w(obs, 0)["waiting"] and w(obs, 1)["waiting"]
    ad.broker_step()
    obs = ad.observe()
    assert obs["broker"] == {
        "epoch": 0,
        "seq": [0, 1],
        "claims": [[], [1]],
        "ledger": [[], [1], []],
    }
    assert msgs(obs, "worker")[0]["need"] == 1

    # the low-priority proposal read b1@0: Conflict on b1
    ad.broker_step()
    obs = ad.observe()
    conflict = only_id(obs, "worker", worker=0, kind="conflict")
    assert msgs(obs, "worker")[-1]["buckets"] == [1]
    ad.deliver(conflict)
    w0 = w(ad.observe(), 0)
    assert w0["view"][1] == [[[1, 1]]]  # forced fresh read of the conflicted partition
    assert w0["fresh_at"] == [0, 1]
    assert (w0["retries"], w0["waiting"], w0["pending"]) == (1, False, [0])
    assert w0["mode"] == "latency-first"  # a Conflict while quality-first

    # the retry: latency-first keeps to partition 1 (the freshest); b1 still has room
    ad.schedule(0)
    assert msgs(ad.observe(), "broker")[0]["reads"] == [[1, 1]]
    ad.broker_step()
    obs = ad.observe()
    assert obs["broker"]["seq"] == [0, 2]
    assert obs["broker"]["claims"] == [[], [0, 1]]
    for m in msgs(obs, "worker"):
        ad.deliver(m["id"])
    obs = ad.observe()
    assert w(obs, 0)["pending"] == [] and w(obs, 0)["retries"] == 0
    assert w(obs, 1)["pending"] == []

    # a release removes the claim and the ledger entry and bumps the seqno
    ad.release(1)
    assert ad.observe()["broker"] == {
        "epoch": 0,
        "seq": [0, 3],
        "claims": [[], [0]],
        "ledger": [[1], [], []],
    }

    # cycle 2 refreshes partition 0 only: latency-first cannot place the gang -> defer
    ad.start_cycle(0)
    w0 = w(ad.observe(), 0)
    assert (w0["cycle"], w0["fresh_at"], w0["pending"]) == (2, [2, 1], [2])
    assert w0["view"] == [[[[0, 0]]], [[[1, 1]]]]  # partition 1 carried forward
    ad.schedule(0)
    w0 = w(ad.observe(), 0)
    assert msgs(ad.observe()) == []
    assert (w0["pending"], w0["mode"]) == ([], "quality-first")  # a deferral while latency-first

    # cycle 3: quality-first places the gang over both partitions, atomically
    ad.start_cycle(0)
    assert w(ad.observe(), 0)["fresh_at"] == [2, 3]
    ad.schedule(0)
    assert msgs(ad.observe(), "broker")[0]["reads"] == [[0, 0], [1, 3]]
    ad.broker_step()
    assert ad.observe()["broker"] == {
        "epoch": 0,
        "seq": [1, 4],
        "claims": [[2], [0, 2]],
        "ledger": [[1], [], [0, 1]],
    }
    ad.release(2)
    assert ad.observe()["broker"] == {
        "epoch": 0,
        "seq": [2, 5],
        "claims": [[], [0]],
        "ledger": [[1], [], []],
    }


def test_retry_budget_exhausted_moves_to_the_next_need(ad: RefSchedAdapter) -> None:
    ad.reset(config(retry_budget=0))
    ad.start_cycle(0)
    ad.start_cycle(1)
    ad.schedule(0)
    ad.schedule(1)
    ad.broker_step()
    ad.broker_step()
    ad.deliver(only_id(ad.observe(), "worker", worker=0, kind="conflict"))
    w0 = w(ad.observe(), 0)
    assert (w0["pending"], w0["retries"], w0["waiting"]) == ([], 0, False)
    assert w0["view"][1] == [[[1, 1]]]  # the re-read still happened


def test_latency_first_and_quality_first_choices(ad: RefSchedAdapter) -> None:
    needs = [{"owner": 0}, {"owner": 1}]
    ad.reset(config(capacities=[1, 3, 2], needs=needs, strategy="quality-first"))
    ad.start_cycle(0)
    ad.schedule(0)
    assert msgs(ad.observe())[0]["reads"] == [[1, 0]]  # the most free room
    ad.reset(config(capacities=[1, 3, 2], needs=needs, strategy="latency-first", partitions=3))
    ad.start_cycle(0)
    obs = ad.observe()
    assert (w(obs, 0)["mode"], w(obs, 0)["fresh_at"]) == ("latency-first", [0, 1, 0])
    ad.schedule(0)
    assert msgs(ad.observe())[0]["reads"] == [[1, 0]]  # only the freshest partition
    ad.start_cycle(1)
    ad.start_cycle(1)
    assert w(ad.observe(), 1)["fresh_at"] == [0, 1, 2]
    ad.schedule(1)
    assert msgs(ad.observe())[-1]["reads"] == [[2, 0]]


def test_priority_first_then_first_come_first_served(ad: RefSchedAdapter) -> None:
    needs = [
        {"owner": 0, "priority": 1},
        {"owner": 1, "priority": 1},
        {"owner": 1, "priority": 5, "eligible": [1]},
    ]
    ad.reset(config(capacities=[3, 3], needs=needs, strategy="quality-first"))
    for i in (1, 0):
        ad.start_cycle(i)
    ad.schedule(1)  # n2 (priority 5) on b1
    ad.schedule(0)  # n0 on b0
    ad.broker_step()
    assert ad.observe()["broker"]["ledger"] == [[], [], [1]]
    ad.deliver(only_id(ad.observe(), "worker", need=2))
    ad.schedule(1)  # n1, priority 1, sent after n0
    ad.broker_step()
    assert ad.observe()["broker"]["ledger"][0] == [0]  # first come, first served


def test_duplicate_proposal_is_answered_already_placed(ad: RefSchedAdapter) -> None:
    ad.reset(config())
    ad.start_cycle(0)
    ad.schedule(0)
    prop = only_id(ad.observe(), "broker")
    ad.duplicate(prop)
    assert len(msgs(ad.observe(), "broker")) == 2
    ad.broker_step()
    ad.broker_step()
    obs = ad.observe()
    kinds = sorted(m["kind"] for m in msgs(obs, "worker"))
    assert kinds == ["already-placed", "committed"]
    assert obs["broker"]["claims"] == [[], [0]]  # placed once
    ad.deliver(only_id(obs, "worker", kind="committed"))
    before = w(ad.observe(), 0)
    ad.deliver(only_id(ad.observe(), "worker", kind="already-placed"))
    assert w(ad.observe(), 0) == before  # a reply to an earlier attempt is discarded
    assert msgs(ad.observe()) == []


def test_lost_reply_then_next_cycle_gets_already_placed(ad: RefSchedAdapter) -> None:
    ad.reset(config())
    ad.start_cycle(0)
    ad.schedule(0)
    ad.broker_step()
    ad.drop(only_id(ad.observe(), "worker"))
    assert msgs(ad.observe()) == [] and w(ad.observe(), 0)["waiting"]
    ad.start_cycle(0)  # the worker's timeout: a new cycle
    w0 = w(ad.observe(), 0)
    assert (w0["pending"], w0["waiting"]) == ([0, 2], False)
    ad.schedule(0)
    ad.broker_step()
    assert msgs(ad.observe())[0]["kind"] == "already-placed"
    ad.deliver(msgs(ad.observe())[0]["id"])
    ad.start_cycle(0)
    assert w(ad.observe(), 0)["pending"] == [2]  # n0 is known placed now


def test_crash_and_recover(ad: RefSchedAdapter) -> None:
    ad.reset(config())
    ad.start_cycle(0)
    ad.start_cycle(1)
    ad.schedule(0)
    ad.broker_step()
    ad.crash(0)
    w0 = w(ad.observe(), 0)
    assert w0 == {
        "up": False,
        "cycle": 1,
        "mode": "quality-first",
        "fresh_at": [-1, -1],
        "view": [[], []],
        "pending": [],
        "waiting": False,
        "retries": 0,
    }
    reply = only_id(ad.observe(), "worker")
    with pytest.raises(WorkerDown):
        ad.deliver(reply)  # a crashed worker takes nothing; the reply stays in flight
    with pytest.raises(WorkerDown):
        ad.schedule(0)
    ad.start_cycle(0)  # cycles pass while down
    ad.start_cycle(0)
    ad.schedule(1)
    ad.broker_step()  # n1 conflicts on b1 (n0 committed there)
    ad.recover(0)
    obs = ad.observe()
    w0 = w(obs, 0)
    assert (w0["up"], w0["cycle"], w0["fresh_at"]) == (True, 3, [3, 3])
    assert w0["view"] == [[[[0, 0]]], [[[1, 1]]]]  # a full re-read
    assert w0["pending"] == []
    ad.deliver(reply)  # now taken, and discarded: no attempt is outstanding
    assert w(ad.observe(), 0) == w0
    ad.start_cycle(0)
    assert w(ad.observe(), 0)["pending"] == [0, 2]  # what was placed was forgotten


def test_failover_fences_the_old_epoch(ad: RefSchedAdapter) -> None:
    ad.reset(config())
    ad.start_cycle(0)
    ad.schedule(0)
    ad.broker_step()
    ad.deliver(only_id(ad.observe(), "worker"))
    ad.start_cycle(1)
    ad.schedule(1)
    before = ad.observe()["broker"]
    ad.failover()
    obs = ad.observe()
    assert obs["broker"] == {**before, "epoch": 1}  # the durable state, a new epoch
    assert msgs(obs, "broker")[0]["epoch"] == 0  # still in flight
    ad.broker_step()
    ad.deliver(only_id(ad.observe(), "worker", kind="fenced"))
    w1 = w(ad.observe(), 1)
    assert (w1["fresh_at"], w1["retries"], w1["waiting"]) == ([1, 1], 1, False)
    ad.schedule(1)
    assert msgs(ad.observe(), "broker")[0]["epoch"] == 1
    ad.broker_step()
    assert msgs(ad.observe())[0]["kind"] == "committed"
    assert ad.observe()["broker"]["seq"] == [1, 1]


def test_bad_steps_raise_clear_errors(ad: RefSchedAdapter) -> None:
    with pytest.raises(AdapterStepError, match="reset"):
        ad.observe()
    ad.reset(config())
    with pytest.raises(AdapterStepError, match="queue is empty"):
        ad.broker_step()
    with pytest.raises(NothingToSchedule):
        ad.schedule(0)
    with pytest.raises(UnknownMessage):
        ad.deliver("m999")
    ad.start_cycle(0)
    ad.schedule(0)
    with pytest.raises(AdapterStepError, match="broker_step"):
        ad.deliver(only_id(ad.observe(), "broker"))
    with pytest.raises(ValueError, match="not placed"):
        ad.release(1)
    with pytest.raises(ValueError, match="no worker 7"):
        ad.crash(7)


class _SlowWorker(Worker):
    def start_cycle(self) -> None:
        time.sleep(0.3)
        super().start_cycle()


def test_a_stuck_step_times_out_and_close_still_joins() -> None:
    ad = RefSchedAdapter(worker=_SlowWorker, step_timeout=0.05)
    try:
        ad.reset(config())
        with pytest.raises(StepTimeout):
            ad.start_cycle(0)
    finally:
        ad.close()


def test_reset_replaces_the_cluster(ad: RefSchedAdapter) -> None:
    ad.reset(config())
    ad.start_cycle(0)
    ad.reset(config(workers=3, needs=[{"owner": 2}]))
    obs = ad.observe()
    assert len(obs["workers"]) == 3 and obs["workers"][0]["cycle"] == 0
    assert len(_threads()) == 4  # broker + 3 workers (the network thread is free mode only)


# --- free mode --------------------------------------------------------------------------


def workload(seed: int, needs: int = 24) -> dict[str, Any]:
    rng = random.Random(seed)
    return {
        "workers": 3,
        "partitions": 4,
        "capacities": [rng.randint(1, 3) for _ in range(8)],
        "needs": [
            {
                "owner": rng.randrange(3),
                "priority": rng.randint(1, 3),
                "arrival": rng.randint(1, 4),
                "gang": rng.choice([1, 1, 1, 2]),
                "size": rng.choice([1, 1, 2]) if rng.random() < 0.2 else 1,
            }
            for _ in range(needs)
        ],
        "retry_budget": 2,
        "strategy": ("latency-first", "quality-first", "adaptive")[seed % 3],
        "max_cycle": 100_000,
    }


def check_free_run(cluster: Cluster, cfg: Mapping[str, Any]) -> None:
    """Every need placed exactly once; no bucket ever over capacity; no actor failed."""
    events = cluster.events.snapshot()
    assert cluster.errors() == []
    commits = Counter(
        e["need"] for e in events if e["action"] == "Commit" and e["result"] == "committed"
    )
    assert sorted(commits) == list(range(len(cfg["needs"])))
    assert set(commits.values()) == {1}
    used = [0] * len(cfg["capacities"])
    sizes = [n.get("size", 1) for n in cfg["needs"]]
    for e in events:
        sign = {"Commit": 1, "Release": -1}.get(e["action"], 0)
        if sign and (e["action"] == "Release" or e["result"] == "committed"):
            for b in e["buckets"]:
                used[b] += sign * sizes[e["need"]]
                assert used[b] <= cfg["capacities"][b], f"bucket {b} overcommitted at event {e}"


def run_free(cfg: dict[str, Any], free: FreeRun, faults: Any = None) -> Cluster:
    cluster = Cluster(Settings.from_config(cfg), Mode.FREE, free=free)
    cluster.start()
    try:
        if faults is not None:
            faults(cluster)
        assert cluster.wait_until(cluster.all_placed, timeout=4.0), "the workload did not finish"
    finally:
        cluster.close()
    return cluster


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_free_mode_places_every_need_once(seed: int) -> None:
    cfg = workload(seed)
    cluster = run_free(cfg, FreeRun(seed=seed, faults=NetworkFaults(seed=seed)))
    check_free_run(cluster, cfg)


def test_free_mode_under_drops_duplicates_crash_and_failover() -> None:
    cfg = workload(7)

    def faults(c: Cluster) -> None:
        time.sleep(0.03)
        c.crash(1)
        time.sleep(0.03)
        c.failover()
        time.sleep(0.03)
        c.recover(1)

    net = NetworkFaults(drop_rate=0.1, duplicate_rate=0.1, seed=7)
    cluster = run_free(cfg, FreeRun(seed=7, faults=net), faults)
    check_free_run(cluster, cfg)
    actions = Counter(e["action"] for e in cluster.events.snapshot())
    assert actions["Drop"] and actions["Duplicate"] and actions["Failover"] == 1
    assert actions["Crash"] == 1 and actions["Recover"] == 1


# --- mutants ----------------------------------------------------------------------------


def test_mutant_catalogue() -> None:
    assert len(MUTANTS) >= 12
    assert len(set(MUTANT_NAMES)) == len(MUTANTS)
    for name, summary, expected in MUTANTS:
        assert name.startswith("parsync.refsched.mutants.")
        assert summary and re.fullmatch(r"(PS-\d+|divergence)(\|(PS-\d+|divergence))*", expected), (
            name,
            expected,
        )


# mutants whose mistake needs more than the walk's scope: (need, field) -> value
WALK_SCOPE: dict[str, dict[tuple[int, str], Any]] = {
    "used_counts_claims": {(0, "size"): 2, (0, "eligible"): [2]},  # a size-2 claim on b2
    # n1 half fills b2, where the size-2 n0 then seems to fit
    "room_as_used_below_cap": {(0, "size"): 2, (0, "eligible"): [2], (1, "eligible"): [2]},
    # n1 fills b2, the third bucket of the gang n2
    "gang_fit_first_two_only": {
        (1, "size"): 2,
        (1, "eligible"): [2],
        (2, "gang"): 3,
        (2, "eligible"): [0, 1, 2],
    },
}


@pytest.mark.parametrize("name", MUTANT_NAMES)
def test_mutant_imports_and_differs_from_the_reference(name: str) -> None:
    """Same random steps on the reference and the mutant: the mutant's mistake shows."""
    factory = importlib.import_module(name).parsync_adapter
    mutant, ref = factory(), refsched.parsync_adapter()
    assert all(callable(getattr(mutant, m)) for m in STEP_METHODS)
    cfg = config(capacities=[1, 1, 2], max_cycle=3, retry_budget=0)
    cfg["needs"][1]["eligible"] = [1]  # n1 fills b1 ...
    cfg["needs"][2]["eligible"] = [0, 1]  # ... where the gang n2 needs room too
    for path, value in WALK_SCOPE.get(name.rsplit(".", 1)[1], {}).items():
        i, field = path
        cfg["needs"][i][field] = value
    try:
        walks = next(
            (k for k in range(300) if _walk_differs(ref, mutant, cfg, random.Random(k))), None
        )
    finally:
        mutant.close()
        ref.close()
    assert walks is not None, f"{name} behaved like the reference in 300 random walks"


def _walk_differs(ref: Any, mut: Any, cfg: dict[str, Any], rng: random.Random) -> bool:
    ref.reset(cfg)
    mut.reset(cfg)
    budget = Counter(crash=1, drop=1, duplicate=1, failover=1)
    for _ in range(40):
        steps = _enabled(ref.observe(), cfg, budget)
        if not steps:
            return False
        kind, arg = rng.choice(steps)
        budget[kind] -= 1
        getattr(ref, kind)(*arg)
        try:
            getattr(mut, kind)(*arg)
        except Exception:
            return True
        if mut.observe() != ref.observe():
            return True
    return False


def _enabled(obs: Mapping[str, Any], cfg: Mapping[str, Any], budget: Counter[str]) -> list[Any]:
    steps: list[Any] = []
    for i, wk in enumerate(obs["workers"]):
        idle = not wk["waiting"] and not wk["pending"]
        if wk["cycle"] < cfg["max_cycle"] and (not wk["up"] or idle):
            steps.append(("start_cycle", (i,)))
        if wk["up"] and not wk["waiting"] and wk["pending"]:
            steps.append(("schedule", (i,)))
        if wk["up"] and budget["crash"] > 0:
            steps.append(("crash", (i,)))
        if not wk["up"]:
            steps.append(("recover", (i,)))
    for m in obs["messages"]:
        if m["to"] == "broker":
            steps.append(("broker_step", ()))
        elif obs["workers"][m["worker"]]["up"]:
            steps.append(("deliver", (m["id"],)))
        for fault in ("drop", "duplicate"):
            if budget[fault] > 0:
                steps.append((fault, (m["id"],)))
    for n, buckets in enumerate(obs["broker"]["ledger"]):
        if buckets:
            steps.append(("release", (n,)))
    if budget["failover"] > 0:
        steps.append(("failover", ()))
    return steps
