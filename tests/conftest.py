"""Shared test setup: the Hypothesis profiles, with ``pr`` as the default.

Select another profile with Hypothesis' own option, e.g.
``python -m pytest --hypothesis-profile=nightly``. This module is imported
before the Hypothesis plugin's ``pytest_configure`` applies that option, so
loading ``pr`` here only sets the default.
"""

import os
import signal
from pathlib import Path

import pytest
from hypothesis import settings

from parsync.engines.hypothesis_profiles import PR_PROFILE

settings.load_profile(PR_PROFILE)

ROOT = Path(__file__).resolve().parent.parent

# The Ctrl-C tests (test_stops.py, test_parallel.py) send SIGINT to child processes.
# A test run started in the background by a non-interactive shell inherits SIGINT
# *ignored*, and an ignored signal stays ignored across exec: the children would never
# see the Ctrl-C. A handler (unlike SIG_IGN) is reset to the default on exec, so the
# children start with Python's own KeyboardInterrupt, as in a foreground run.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """``--dist loadscope`` without xdist 3.8's hang after a crashed worker (see
    tests/support/xdist_scheduling.py): a Z3 segfault is one failed test, not a stall."""
    if config.getvalue("dist") != "loadscope":
        return None
    from tests.support.xdist_scheduling import CrashSafeLoadScope

    return CrashSafeLoadScope(config, log)  # type: ignore[arg-type]


@pytest.fixture
def repo_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes (pytester subprocesses, ``exec:`` adapters) import this checkout's
    ``parsync`` first: the repository root goes in front of ``PYTHONPATH``."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
