"""The CI examples users copy (GitHub Actions, pre-commit) say only what ``parsync`` accepts.

Every ``parsync gate`` command line in ``examples/ci/``, ``.pre-commit-hooks.yaml``
and the guide is parsed with the real argument parser, so an option renamed in
``parsync/cli.py`` cannot leave a broken example behind.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from parsync.cli import build_parser
from parsync.gate import STAGES

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ROOT / "examples" / "ci" / "github-actions.yml",
    ROOT / "examples" / "ci" / "pre-commit-config.yaml",
    ROOT / ".pre-commit-hooks.yaml",
    ROOT / "docs" / "guide.md",
]


def gate_commands() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        text = re.sub(r">\n\s+", " ", text)  # YAML folded blocks (run: >)
        text = re.sub(r"\n\s+--", " --", text)  # continuation lines
        text = text.replace("\\\n", " ")  # shell continuations
        # a command, not a name: at a line start, after a shell prompt, `run:` or `entry:`
        pattern = r"(?:^\s*|entry:\s*|run:\s*|\$\s+)(parsync gate(?: [^\n#]*)?)$"
        for m in re.finditer(pattern, text, flags=re.M):
            found.append((path.name, m.group(1).strip()))
    return found


def test_there_are_examples_to_check() -> None:
    names = {n for n, _ in gate_commands()}
    assert names >= {"github-actions.yml", "pre-commit-config.yaml", ".pre-commit-hooks.yaml"}


@pytest.mark.parametrize(("where", "cmd"), gate_commands())
def test_every_example_gate_command_parses(where: str, cmd: str) -> None:
    argv = shlex.split(cmd.split("#", 1)[0])[1:]  # drop "parsync" and any comment
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse reports the bad option on stderr
        pytest.fail(f"{where}: {cmd!r} does not parse (exit {e.code})")
    assert args.command == "gate"
    assert all(s in STAGES for s in args.skip), (where, cmd)
    assert args.preset in ("pr", "nightly")


def example_impls() -> list[tuple[str, str]]:
    """Every --impl value in the examples: gate command lines and pre-commit ``args``."""
    found = []
    for where, cmd in gate_commands():
        args = build_parser().parse_args(shlex.split(cmd.split("#", 1)[0])[1:])
        if args.impl:
            found.append((where, args.impl))
    for path in SOURCES:
        for m in re.finditer(r"args: \[--impl, ([^\]\s]+)\]", path.read_text(encoding="utf-8")):
            found.append((path.name, m.group(1)))
    return found


LAYOUT = {  # the documented layout (docs/conformance.md section 4), the scheduler stubbed
    "mysched/__init__.py": "from .adapter import parsync_adapter\n",
    "mysched/adapter.py": (
        "def parsync_adapter():\n"
        "    from parsync.refsched import parsync_adapter as reference\n"
        "    return reference()\n"
    ),
}


@pytest.mark.parametrize(("where", "impl"), example_impls())
def test_every_example_impl_loads_for_the_documented_layout(
    where: str, impl: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from parsync.conformance.adapter import AdapterError, load_adapter

    for name, text in LAYOUT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        load_adapter(impl).close()
    except AdapterError as e:
        pytest.fail(f"{where}: --impl {impl}: {e}")
    finally:
        for mod in [m for m in sys.modules if m == "mysched" or m.startswith("mysched.")]:
            del sys.modules[mod]


def test_the_examples_name_an_impl() -> None:
    assert {w for w, _ in example_impls()} >= {"github-actions.yml", "pre-commit-config.yaml"}
