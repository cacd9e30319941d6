"""Shared test setup: the Hypothesis profiles, with ``pr`` as the default.

Select another profile with Hypothesis' own option, e.g.
``python -m pytest --hypothesis-profile=nightly``. This module is imported
before the Hypothesis plugin's ``pytest_configure`` applies that option, so
loading ``pr`` here only sets the default.
"""

import os
from pathlib import Path

import pytest
from hypothesis import settings

from parsync.engines.hypothesis_profiles import PR_PROFILE

settings.load_profile(PR_PROFILE)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes (pytester subprocesses, ``exec:`` adapters) import this checkout's
    ``parsync`` first: the repository root goes in front of ``PYTHONPATH``."""
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    )
