"""A crashed xdist worker fails one test and the run goes on (tests/support/xdist_scheduling.py).

A CI run of this suite hung for 90 minutes after one Z3 segfault: xdist 3.8.0's
``loadscope`` scheduler queues a dead worker's finished scopes again and waits
forever for their empty answers. These tests pin the fix: end to end on a small
suite with a test that segfaults, and on the scheduler itself, next to xdist's own
(which shows what the fix is for).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("xdist")

from xdist.scheduler.loadscope import LoadScopeScheduling  # noqa: E402

from tests.support.xdist_scheduling import CrashSafeLoadScope  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

QUICK = "def test_{i}():\n    assert True\n"
CRASH = "import os, signal\n\ndef test_crash():\n    os.kill(os.getpid(), signal.SIGSEGV)\n"


def test_a_segfaulting_test_is_one_failure_and_the_run_ends(tmp_path: Path) -> None:
    for name in "abcdef":
        body = "".join(QUICK.format(i=i) for i in range(3))
        if name == "c":  # the worker that ran "a" dies in "c", after finishing "a"
            body = CRASH + "\n" + body
        (tmp_path / f"test_{name}.py").write_text(body)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    cmd = [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-n", "2", "--dist", "loadscope"]
    cmd += ["-p", "no:cacheprovider", "-q", "-o", "addopts=", str(tmp_path)]
    try:
        run = subprocess.run(
            cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
    except subprocess.TimeoutExpired as e:  # the hang this file is about
        pytest.fail(f"the run hung after the crash:\n{e.stdout!s}")
    out = run.stdout
    assert run.returncode == 1, out + run.stderr
    assert "1 failed, 18 passed" in out, out
    assert "test_c.py::test_crash" in out and "node down" in out, out
    assert out.count("node down") == 1, out  # the test a worker died on is not run again


class _Node:
    """A stand-in for xdist's WorkerController: records what it is sent."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.shutting_down = False
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append(list(indexes))

    def shutdown(self) -> None:
        self.shutting_down = True

    def __repr__(self) -> str:
        return self.name


def _after_a_crash(cls: Any) -> tuple[Any, _Node, str | None]:
    """Node 0 finished scope a, then died on the first test of scope c; node 1 is busy."""

    class Config:
        class option:  # noqa: N801 - xdist reads config.option.*
            loadscopereorder = True
            numprocesses = 2

        def getvalue(self, name: str) -> Any:
            return ["2*popen"] if name == "tx" else None

    sched = cls(Config(), log=None)
    dead, alive = _Node("gw0"), _Node("gw1")
    ids = [f"test_{m}.py::t{i}" for m in "abcd" for i in range(3)]
    sched.registered_collections = {dead: ids, alive: ids}
    sched.collection = ids
    sched.assigned_work = {
        dead: {
            "test_a.py": dict.fromkeys(ids[0:3], True),
            "test_c.py": dict.fromkeys(ids[6:9], False),
        },
        alive: {
            "test_b.py": dict.fromkeys(ids[3:6], False),
            "test_d.py": dict.fromkeys(ids[9:12], False),
        },
    }
    sched.workqueue = OrderedDict()
    crash = sched.remove_node(dead)
    return sched, alive, crash


def test_the_scheduler_requeues_only_unfinished_work_and_not_the_crash() -> None:
    sched, alive, crash = _after_a_crash(CrashSafeLoadScope)
    assert crash == "test_c.py::t0"
    assert list(sched.workqueue) == ["test_c.py"]
    assert sched.workqueue["test_c.py"]["test_c.py::t0"] is True  # not run again
    # a replacement worker gets the two tests left, never an empty list
    new = _Node("gw2")
    sched.registered_collections[new] = sched.collection
    sched.add_node(new)
    sched._reschedule(new)
    assert new.sent == [[7, 8]]
    assert all(sent for sent in alive.sent)


def test_xdist_own_scheduler_requeues_the_finished_scope() -> None:
    """What the fix is for: xdist 3.8's scheduler queues scope a again, which a new
    worker is then sent as an empty list (and the run waits for it forever)."""
    sched, _alive, crash = _after_a_crash(LoadScopeScheduling)
    assert crash == "test_c.py::t0"
    if "test_a.py" not in sched.workqueue:
        pytest.skip("this pytest-xdist no longer requeues finished scopes")
    new = _Node("gw2")
    sched.registered_collections[new] = sched.collection
    sched.add_node(new)
    while sched.workqueue:
        sched._assign_work_unit(new)
    assert [] in new.sent


def test_the_suite_installs_it_for_loadscope_only() -> None:
    from tests import conftest

    class Config:
        def __init__(self, dist: str) -> None:
            self.dist = dist
            self.option = type("o", (), {"loadscopereorder": True, "numprocesses": 2})()

        def getvalue(self, name: str) -> Any:
            return self.dist

    assert isinstance(
        conftest.pytest_xdist_make_scheduler(Config("loadscope"), None), CrashSafeLoadScope
    )
    assert conftest.pytest_xdist_make_scheduler(Config("load"), None) is None


def test_the_readme_command_uses_loadscope() -> None:
    """The fix covers the command CI runs; a change of --dist must revisit it."""
    readme = (ROOT / "README.md").read_text()
    assert "python -m pytest -n auto --dist loadscope" in readme
    assert "-n auto --dist loadscope" in (ROOT / ".ci" / "run").read_text()
