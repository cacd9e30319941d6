"""The code is linted, formatted and type-checked (the dev extra's tools), in the suite.

Skipped only when the tools are not installed (a user who ran the first README
command without the dev extra); CI installs them with the second command.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODE = ["parsync", "model", "conformance", "examples", "tests", "bench"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (python -m pip install -e '.[dev]')")


def test_ruff_check() -> None:
    needs("ruff")
    r = run("ruff", "check", *CODE)
    assert r.returncode == 0, r.stdout + r.stderr


def test_ruff_format() -> None:
    needs("ruff")
    r = run("ruff", "format", "--check", *CODE)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict() -> None:
    needs("mypy")
    r = run("mypy")  # files and strictness from pyproject.toml
    assert r.returncode == 0, r.stdout + r.stderr
