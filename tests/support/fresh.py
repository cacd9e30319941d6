"""A clean copy of the repository and a new virtual environment, as a new user has them
(tests/test_fresh_env.py, tests/test_good_citizen.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def clean_copy(dest: Path) -> None:
    """The files git tracks, as they are in the work tree; parsync/'s links stay links."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and a git checkout to know which files are tracked")
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    for f in filter(None, (f.decode() for f in files)):
        src, dst = ROOT / f, dest / f
        if src.is_symlink():  # parsync/model -> ../model etc.: a link, as git checks it out
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.symlink(os.readlink(src), dst)
        elif src.is_file():  # a tracked file deleted in the work tree is not copied
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def new_venv(env_dir: Path) -> dict[str, str]:
    """A virtual environment without system site packages, and the environment
    variables that make it the one a shell uses (no PYTHONPATH, no pytest variables)."""
    venv.create(env_dir, with_pip=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    env.update(
        PATH=f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}",
        VIRTUAL_ENV=str(env_dir),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    env.pop("PYTHONPATH", None)
    return env


def sh(cmd: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``cmd`` through a shell, as a user types it."""
    return subprocess.run(
        cmd, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=900
    )
