"""``pytest conformance --parsync-trace=FILE``: one test per trace file (globs allowed).

Each test validates one JSONL event trace against the model
(``parsync.traces``, docs/traces.md) and fails with the validator's report: the
line, the event, the property it would break, the candidate model states.
Without ``--parsync-trace`` the plugin deselects this test (pytest reports it as
deselected); it identifies it by its real path, so a project's own ``test_traces.py``
is never touched.
"""

from __future__ import annotations

import glob
from pathlib import Path

import pytest


def _trace_files(patterns: list[str]) -> list[str]:
    files: list[str] = []
    for pat in patterns:
        hits = sorted(glob.glob(pat)) if glob.has_magic(pat) else [pat]
        if not hits:
            raise pytest.UsageError(f"parsync: --parsync-trace {pat!r} matches no file")
        files += hits
    return files


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "trace_file" in metafunc.fixturenames:
        files = _trace_files(metafunc.config.getoption("parsync_trace"))
        ids = [Path(f).name for f in files]
        metafunc.parametrize("trace_file", files or [None], ids=ids or ["no-trace"])


def test_trace(trace_file: str | None) -> None:
    if trace_file is None:
        pytest.skip("no trace given: pass --parsync-trace=FILE")
    from parsync.traces import validate_path

    r = validate_path(trace_file)
    if r.verdict != "valid":
        pytest.fail(r.explanation, pytrace=False)
