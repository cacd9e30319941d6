"""``parsync check --ray``: the fingerprint-partitioned search with Ray actors as shards
(parsync/engines/ray_backend.py) gives exactly the single-process result.

All on one local Ray started once for the module (``ray.init`` on this machine,
two CPUs, no dashboard: no network beyond localhost), with two and three actors.
Without the extra ``parsync-spec[ray]`` (it is in ``dev``) these tests are
skipped, except the one for the error that names the extra.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from parsync.cli import main
from parsync.engines.checker import Checker
from parsync.engines.parallel import ShardError
from parsync.model.presets import PRESETS
from parsync.model.protocol import ParSyncModel
from tests.support import failing_models
from tests.support.failing_models import Boom, Dies

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = json.loads((ROOT / "spec" / "manifest.json").read_text(encoding="utf-8"))["presets"]
NO_RAY = "the Ray backend's tests need ray: pip install 'parsync-spec[ray]' (or '.[dev]')"


@pytest.fixture(scope="module")
def local_ray() -> Iterator[Any]:
    """One local Ray for the module: 2 CPUs, no dashboard, quiet, a small object store,
    no idle workers started ahead (the actors start their own)."""
    ray = pytest.importorskip("ray", reason=NO_RAY)
    # Ray's workers may not import the tests' failing models: they are pickled by value
    ray.cloudpickle.register_pickle_by_value(failing_models)
    ray.init(
        address="local",  # a new local Ray, whatever this machine ran before
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
        object_store_memory=200 * 2**20,
        _system_config={"enable_worker_prestart": False},
    )
    yield ray
    ray.shutdown()


def _ray_checker(model: ParSyncModel, workers: int, **kw: Any) -> Any:
    from parsync.engines.ray_backend import RayChecker

    return RayChecker(model, address="auto", workers=workers, symmetry=True, **kw)


@functools.cache
def _single_process(preset: str) -> Any:
    return Checker(ParSyncModel(PRESETS[preset].config), symmetry=True).run()


def _has_the_manifest_counts(r: Any, preset: str) -> None:
    want = MANIFEST[preset]
    got = (r.verdict, r.states, r.transitions, r.depth)
    assert got == (want["verdict"], want["states"], want["transitions"], want["depth"])


@pytest.mark.parametrize("preset", ["small", "capacity"])
@pytest.mark.parametrize("actors", [2, 3])
def test_a_preset_has_the_manifest_counts(local_ray: Any, preset: str, actors: int) -> None:
    r = _ray_checker(ParSyncModel(PRESETS[preset].config), actors).run()
    _has_the_manifest_counts(r, preset)
    assert r.extra["workers"] == actors and r.extra["backend"] == "ray"
    if preset == "capacity":  # the rest of the result, against the single process
        one = _single_process(preset)
        for f in ("coverage", "witnesses", "unfired", "symmetry"):
            assert getattr(r, f) == getattr(one, f), f


@pytest.mark.parametrize(("variant", "actors"), [("no-dedup", 2), ("retry-off-by-one", 3)])
def test_a_failing_variant_gives_the_single_process_counterexample(
    local_ray: Any, variant: str, actors: int
) -> None:
    m = ParSyncModel(PRESETS["small"].config, variant=variant)
    one = Checker(m, symmetry=True).run()
    r = _ray_checker(m, actors).run()
    assert one.verdict == r.verdict == "violation"
    assert one.violation is not None and r.violation is not None
    assert r.violation.property_ids == one.violation.property_ids
    assert len(r.violation.trace.actions) == len(one.violation.trace.actions)
    assert r.violation.trace.states == one.violation.trace.states
    assert r.depth == one.depth


def test_a_state_budget_exits_3_with_the_partial_result(
    local_ray: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--ray", "auto", "--workers", "2", "--max-states", "5000", "--json"])
    assert code == 3
    d = json.loads(capsys.readouterr().out)
    assert d["verdict"] == "incomplete" and 5_000 <= d["states"] < 111_204


def test_a_checkpointed_run_resumes_to_the_manifest_counts(local_ray: Any, tmp_path: Path) -> None:
    """Stopped by a budget with 2 actors, resumed with 3 (the shard files re-partitioned)."""
    m = ParSyncModel(PRESETS["capacity"].config)
    first = _ray_checker(m, 2, max_states=5_000, checkpoint=tmp_path).run()
    assert first.verdict == "incomplete" and (tmp_path / "checkpoint.json").is_file()
    r = _ray_checker(ParSyncModel(PRESETS["capacity"].config), 3, resume=tmp_path).run()
    _has_the_manifest_counts(r, "capacity")
    assert r.extra["resumed_from"]["states"] == first.states


def test_an_actor_that_raises_is_one_line_naming_it(local_ray: Any) -> None:
    with pytest.raises(ShardError) as e:
        _ray_checker(Boom(PRESETS["small"].config), 2).run()
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("shard ") and msg.endswith("failed: ValueError: boom in successors")


def test_an_actor_that_dies_is_one_line(local_ray: Any) -> None:
    t0 = time.perf_counter()
    with pytest.raises(ShardError) as e:
        _ray_checker(Dies(PRESETS["small"].config), 2).run()
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("shard ") and " of 2 died (its Ray actor" in msg
    assert time.perf_counter() - t0 < 60


def test_without_ray_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert main(["check", "--ray", "auto", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "ray is not installed" in err and "pip install 'parsync-spec[ray]'" in err


def test_an_unreachable_address_is_one_line_and_fast(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ray", reason=NO_RAY)
    t0 = time.perf_counter()
    assert main(["check", "--ray", "127.0.0.1:9", "--no-progress"]) == 2  # discard: closed
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "cannot reach a Ray cluster at 127.0.0.1:9" in err
    assert time.perf_counter() - t0 < 10


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["pr", "duplicates", "three-partitions"])
def test_a_larger_preset_has_the_manifest_counts(local_ray: Any, preset: str) -> None:
    _has_the_manifest_counts(_ray_checker(ParSyncModel(PRESETS[preset].config), 2).run(), preset)


@pytest.mark.slow
def test_ctrl_c_stops_the_actors_and_prints_a_partial_result() -> None:
    """``--ray auto`` in its own process (it starts and stops its own local Ray)."""
    pytest.importorskip("ray", reason=NO_RAY)
    p = subprocess.Popen(
        [sys.executable, "-m", "parsync.cli", "check", "--preset", "pr", "--ray", "auto"]
        + ["--workers", "2", "--no-progress"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    time.sleep(40)  # Ray's start-up, then some levels
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 3, err
    assert "INCOMPLETE" in out and "Ray actor(s)" in out
    assert "the result is incomplete" in err
