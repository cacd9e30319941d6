"""Where commands write: the one check every output path gets before work starts.

Every option that names a file to write (``gate --junit/--json-out/--markdown``,
``prove --report``, ``check --trace-out/--itf-out``, ``simulate --out/--plot``,
``record --out``, ``manifest --file``, ``cite --write``, every ``--json-out``)
goes through :func:`check_output_path` before the command starts its work, so
a typo in a CI flag costs a second, not the hour of checking before it.

The check is honest rather than clever: the parent must be an existing
directory, the path must not be a directory, and the file must be creatable
or, if it exists, openable for appending. It is probed by actually opening it
(and removing a file it had to create), so a path the permission bits allow but
the file system refuses (``/proc/x.xml``, a read-only mount, running as root)
is caught too. Nothing is truncated and nothing is left behind.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from parsync.errors import UsageError

#: The name a ``--json-out``/``--out`` style option takes for standard output.
STDOUT = "-"


def check_output_path(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path if a file can be written there; else :class:`UsageError`.

    ``what`` names the option (``--junit``), so the one-line error says which
    flag to fix: ``--junit /no/dir/x.xml: cannot write: directory /no/dir does
    not exist``.
    """
    p = Path(path)
    head = f"{what} {p}: cannot write"
    if str(path) == "":
        raise UsageError(f"{what}: an empty path")
    if p.is_dir():
        raise UsageError(f"{head}: it is a directory")
    parent = p.parent
    if not parent.exists():
        raise UsageError(f"{head}: directory {parent} does not exist")
    if not parent.is_dir():
        raise UsageError(f"{head}: {parent} is not a directory")
    existed = p.exists()
    if existed and not p.is_file():
        raise UsageError(f"{head}: not a regular file")
    try:
        # "a" creates without truncating; a file that was not there is removed again
        with open(p, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise UsageError(f"{head}: {e.strerror or e}") from None
    if not existed:
        try:
            p.unlink()
        except OSError:  # pragma: no cover - created a moment ago
            pass
    return p


def check_output_paths(*pairs: tuple[str | os.PathLike[str] | None, str]) -> None:
    """:func:`check_output_path` on every (path, option) pair whose path is given
    (``None`` and ``-``, standard output, are skipped)."""
    for path, what in pairs:
        if path is not None and str(path) != STDOUT:
            check_output_path(path, what)


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write a checked output file; an error this late is still one line (exit 2)."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


def emit_json(doc: Any, *, stdout: bool, path: str | None) -> None:
    """The one JSON convention: ``--json`` prints ``doc`` on stdout, ``--json-out
    FILE`` writes it to FILE (both when both are given)."""
    text = json.dumps(doc, indent=2) + "\n"
    if path is not None and path != STDOUT:
        write_text(path, text)
    if stdout or path == STDOUT:
        print(text, end="", flush=True)


__all__ = [
    "STDOUT",
    "UsageError",
    "check_output_path",
    "check_output_paths",
    "emit_json",
    "write_text",
]
