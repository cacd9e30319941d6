"""The README's set-up commands, run as a new user runs them.

A clean copy of the repository (the files git tracks, as they are in the work
tree: nothing untracked, no build output, no caches) goes into a temporary
directory with a new virtual environment, and the README's commands run there
verbatim, through a shell. The commands are read from the README itself, so
the test fails when the README drifts from what works.

The environment is really new: no ``--system-site-packages``, so a dependency
the code imports but ``pyproject.toml`` does not declare fails here. pip
installs from whatever index this machine's pip is configured with, exactly as
``.ci/run`` does on CI's clean clone (about 40 s here). The second command
would run this whole suite again inside the suite; here its install half runs
verbatim and its test half is a collection run plus the smoke tests.

Skip with ``-m "not fresh_env"`` (for example on a machine without git).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from parsync.model.properties import PROPERTIES, WITNESSES
from tests.support.fresh import clean_copy, new_venv, sh

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.fresh_env


def readme_commands() -> list[str]:
    """The shell commands of the README's set-up section, in order."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = text.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.+?)\n```", setup, flags=re.S)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    base = tmp_path_factory.mktemp("fresh")
    repo = base / "parsync-spec"
    repo.mkdir()
    clean_copy(repo)
    env = new_venv(base / "venv")
    return repo, env


def test_the_readme_has_the_two_setup_commands() -> None:
    cmds = readme_commands()
    assert cmds == [
        "python -m pip install -e . && parsync check",
        "python -m pip install -e '.[dev]' && python -m pytest -n auto --dist loadscope",
    ]


def test_first_command_installs_and_checks_the_default_scope(
    fresh: tuple[Path, dict[str, str]],
) -> None:
    repo, env = fresh
    r = sh(readme_commands()[0], repo, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.search(r"^Successfully installed .*parsync-spec-0", r.stdout, flags=re.M)
    assert "parsync check small --policy contract" in r.stdout  # the contract by default
    want = json.loads((repo / "spec" / "manifest.json").read_text())["contract"]["small"]
    out = r.stdout
    flat = " ".join(out.split())
    # the run is the manifest's record of the default scope: counts, depth, coverage
    # (the one exhaustive run of it in the default suite: tests/test_cli.py's and
    # tests/test_policy.py's in-process runs of it are marked slow)
    counts = f"PASS {want['states']:,} distinct states, {want['transitions']:,} transitions, "
    assert counts + f"depth {want['depth']}" in flat, flat[-2000:]
    cov = flat.split("coverage (transitions per action):", 1)[1]
    got = {k: int(v.replace(",", "")) for k, v in re.findall(r"(\w+)=([\d,]+)", cov)}
    assert got == want["coverage"], (got, want["coverage"])
    for p in PROPERTIES:
        assert re.search(rf"{re.escape(p.id)}\s.*{p.name}.*holds", out), p.id
    for w in WITNESSES:
        assert w.id in out
    assert "NOT REACHED" not in out and "vacuous" not in out
    assert "Traceback" not in r.stderr
    # the installed command comes from the fresh environment and the copy, not the checkout
    where = sh(
        "cd / && python -c 'import parsync.model as m, sys; print(m.__file__, sys.prefix)'",
        repo,
        env,
    )
    assert str(repo) in where.stdout and str(env["VIRTUAL_ENV"]) in where.stdout


def test_second_command_installs_the_dev_extra_and_collects_the_suite(
    fresh: tuple[Path, dict[str, str]],
) -> None:
    repo, env = fresh
    install, test = readme_commands()[1].split(" && ")
    r = sh(install, repo, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    r = sh(f"{test} --collect-only -q -p no:cacheprovider", repo, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # "N tests collected", or "N/M tests collected (K deselected)": the slow ones are left out
    assert re.search(r"^\d+(/\d+)? tests collected", r.stdout, flags=re.M), r.stdout[-500:]
    r = sh(f"{test} -q -p no:cacheprovider tests/test_smoke.py", repo, env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert re.search(r"\d+ passed", r.stdout)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))
