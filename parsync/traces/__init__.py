"""Trace validation: JSONL event traces from any implementation, checked against the model.

* :mod:`model.traces.format` - the format (version 1): the field table, the
  fast per-line checker, the JSON Schema rendered from the same table
  (``spec/trace.schema.json``), the streaming reader;
* :mod:`model.traces.validate` - the validator: ``validate_path`` ->
  :class:`TraceResult` (what ``parsync trace`` and ``parsync gate`` use);
* :mod:`model.traces.simulate` - traces of the model's own random walks (valid
  by construction: benchmark and test material);
* :mod:`model.traces.command` - the ``parsync trace`` / ``parsync record`` bodies.

See docs/traces.md.
"""

from __future__ import annotations

from parsync.traces.format import TraceFormatError
from parsync.traces.validate import (
    DEFAULT_MAX_CANDIDATES,
    DEFAULT_MAX_HIDDEN,
    TraceResult,
    Validator,
    validate_path,
    validate_stream,
)

__all__ = [
    "DEFAULT_MAX_CANDIDATES",
    "DEFAULT_MAX_HIDDEN",
    "TraceFormatError",
    "TraceResult",
    "Validator",
    "validate_path",
    "validate_stream",
]
