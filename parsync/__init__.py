"""parsync-spec: the formally-checked reference model of ParSync (ADR-0031).

The installed import package. Where each part lives (``docs/architecture.md``):

* :mod:`parsync.model` - the state machine only (Config, State, actions, protocol,
  properties, variants, presets); the repository's ``model/`` folder;
* :mod:`parsync.engines` - what explores it: BFS checker, symmetry, liveness,
  Hypothesis, simulation;
* :mod:`parsync.proofs` - Z3 inductive proofs and bounded model checking;
* :mod:`parsync.traces` - event-trace validation and recording;
* :mod:`parsync.conformance` - the conformance suite and its pytest plugin
  (the repository's ``conformance/`` folder);
* :mod:`parsync.refsched` - the reference scheduler and its mutants
  (``examples/refsched/``);
* :mod:`parsync.cli`, :mod:`parsync.gate` and the report writers.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("parsync-spec")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
