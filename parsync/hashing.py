"""The one way this project hashes a list of source files (manifest, proof report, TLA+
record, and the installed package's own copies of them)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path


def sources_hash(names: Iterable[str], path_of: Callable[[str], Path]) -> str:
    """sha256 over ``names`` in order: per file its name (a repository path), a NUL
    byte, its text with LF line endings, a NUL byte. ``path_of`` says where each is read
    from (the checkout, or the installed package); OSError propagates."""
    h = hashlib.sha256()
    for name in names:
        text = path_of(name).read_text(encoding="utf-8").replace("\r\n", "\n")
        h.update(name.encode())
        h.update(b"\0")
        h.update(text.encode("utf-8"))
        h.update(b"\0")
    return "sha256:" + h.hexdigest()
