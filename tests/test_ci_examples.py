"""The CI examples users copy (GitHub Actions, pre-commit) say only what ``parsync`` accepts.

Every ``parsync gate`` command line in ``examples/ci/``, ``.pre-commit-hooks.yaml``
and the guide is parsed with the real argument parser, so an option renamed in
``parsync/cli.py`` cannot leave a broken example behind.
"""

from __future__ import annotations

import re
import shlex
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
