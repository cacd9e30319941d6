"""SANY and TLC on ``spec/ParSync.tla``: the TLA+ rendering is checked by the TLA+ tools.

``tla2tools.jar`` (SANY, TLC) is not a dependency of the package: it is found through
the ``PARSYNC_TLA2TOOLS`` environment variable, or at ``../shared/tools/tla2tools.jar``
beside the checkout (where this project's development machines and CI keep it).
Java must be on ``PATH``. Both tools run in a temporary directory holding a copy of
the modules, so TLC's ``states/`` folder and its trace files never land in the
user's tree.

``spec/ParSync.tla`` renders both policies of the Python model (constant ``Policy``);
:data:`MODELS` names the TLC model of each on the ``small`` preset. ``run_tlc``
parses TLC's closing lines into a :class:`TlcResult`; ``parsync manifest --write``
(or ``--write --tlc-only``) records one per policy (``tlc`` in ``spec/manifest.json``)
beside the Python checker's counts, and ``tests/test_tla.py`` checks they agree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parsync.hashing import sources_hash

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec"
ENV = "PARSYNC_TLA2TOOLS"
#: The modules and the TLC configurations, hashed for the record (paths from the root).
TLA_SOURCES: tuple[str, ...] = (
    "spec/ParSync.tla",
    "spec/MCParSync.tla",
    "spec/MCParSync.cfg",
    "spec/MCParSyncContract.tla",
    "spec/MCParSyncContract.cfg",
)
#: The preset the TLC models render (tests/test_tla.py checks the constants).
MC_PRESET = "small"


@dataclass(frozen=True)
class TlcModel:
    """One TLC model: a module with its configuration, and the policy it selects."""

    module: str  # e.g. "MCParSync": MCParSync.tla with MCParSync.cfg
    policy: str  # the Python model's policy (ParSyncModel(config, policy=...))
    key: str  # its record's key in the manifest's ``tlc`` section


#: The TLC models, one per policy of model/protocol.py, in the order they are recorded.
MODELS: tuple[TlcModel, ...] = (
    TlcModel("MCParSync", "reference", MC_PRESET),
    TlcModel("MCParSyncContract", "contract", f"{MC_PRESET}_contract"),
)


class TlaToolsMissing(RuntimeError):
    """Neither PARSYNC_TLA2TOOLS nor the shared tools path gives a tla2tools.jar, or no java."""


@dataclass(frozen=True)
class SanyResult:
    ok: bool
    errors: tuple[str, ...]  # SANY's error lines, empty when ok
    output: str


@dataclass(frozen=True)
class TlcResult:
    ok: bool  # "Model checking completed. No error has been found."
    distinct: int | None
    generated: int | None  # TLC counts the initial states among the generated ones
    depth: int | None  # TLC's depth counts the initial state as depth 1
    error: str | None  # the first "Error: ..." line, when not ok
    version: str | None
    seconds: float
    output: str
    workers: str = "auto"  # TLC's -workers

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": "pass" if self.ok else "fail",
            "distinct": self.distinct,
            "generated": self.generated,
            "depth": self.depth,
            "tlc": self.version,
            "seconds": round(self.seconds, 1),  # information only
            "workers": self.workers,  # information only
        }


def find_tla2tools() -> Path:
    """The jar to use; raises :class:`TlaToolsMissing` with the reason."""
    env = os.environ.get(ENV)
    if env:
        p = Path(env)
        if not p.is_file():
            raise TlaToolsMissing(f"{ENV}={env}: no such file")
    else:
        p = ROOT.parent / "shared" / "tools" / "tla2tools.jar"
        if not p.is_file():
            raise TlaToolsMissing(f"no tla2tools.jar: set {ENV} (looked for {p})")
    if shutil.which("java") is None:
        raise TlaToolsMissing("java is not on PATH (TLC and SANY need a JRE 11 or newer)")
    return p


def tla_hash(root: Path = ROOT) -> str:
    """sha256 over TLA_SOURCES: per file its path, NUL, its text (LF endings), NUL."""
    return sources_hash(TLA_SOURCES, lambda name: root / name)


def _copy_spec(into: Path, spec: Path) -> None:
    for source in TLA_SOURCES:
        name = Path(source).name
        shutil.copy(spec / name, into / name)


def sany(jar: Path, *, spec: Path = SPEC, module: str = "ParSync.tla") -> SanyResult:
    """Parse and semantically check one module with SANY."""
    with tempfile.TemporaryDirectory(prefix="parsync-sany-") as tmp:
        _copy_spec(Path(tmp), spec)
        r = subprocess.run(
            ["java", "-cp", str(jar), "tla2sany.SANY", module],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
    out = r.stdout + r.stderr
    errors = tuple(
        line.strip()
        for line in out.splitlines()
        if re.search(r"\*\*\* Errors|Unknown operator|Could not|error", line, re.I)
    )
    return SanyResult(ok=r.returncode == 0 and not errors, errors=errors, output=out)


def _int(pattern: str, text: str) -> int | None:
    """The last match's number: TLC's progress lines use the same words as its closing
    summary, which comes last."""
    found = re.findall(pattern, text, flags=re.M)
    return int(found[-1].replace(",", "")) if found else None


def run_tlc(
    jar: Path, *, spec: Path = SPEC, workers: str = "auto", module: str = "MCParSync"
) -> TlcResult:
    """TLC on one model (``module``.tla with ``module``.cfg; default MCParSync, the
    ``small`` preset under the reference policy), with its own metadata in a temp dir."""
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="parsync-tlc-") as tmp:
        _copy_spec(Path(tmp), spec)
        r = subprocess.run(
            [
                "java",
                "-XX:+UseParallelGC",
                "-cp",
                str(jar),
                "tlc2.TLC",
                "-workers",
                workers,
                "-metadir",
                str(Path(tmp) / "states"),
                "-config",
                f"{module}.cfg",
                f"{module}.tla",
            ],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
    out = r.stdout + r.stderr
    ok = "Model checking completed. No error has been found." in out
    err = next((ln.strip() for ln in out.splitlines() if ln.startswith("Error:")), None)
    m = re.search(r"TLC2 Version (\S+)", out)
    return TlcResult(
        ok=ok and r.returncode == 0,
        distinct=_int(r"states generated, ([\d,]+) distinct states found, [\d,]+ states", out),
        generated=_int(r"^([\d,]+) states generated, [\d,]+ distinct states found", out),
        depth=_int(r"depth of the complete state graph search is (\d+)", out),
        error=err if not ok else None,
        version=m.group(1) if m else None,
        seconds=time.monotonic() - t0,
        output=out,
        workers=workers,
    )


def manifest_entry(
    jar: Path,
    *,
    workers: str = "auto",
    on_model: Callable[[TlcModel, TlcResult], None] | None = None,
) -> dict[str, Any]:
    """The ``tlc`` section of spec/manifest.json: TLC's counts on every model of
    :data:`MODELS` (``on_model`` is called after each run)."""
    entry: dict[str, Any] = {
        "note": (
            "TLC on the small preset: spec/MCParSync.tla (reference policy, key small) and "
            "spec/MCParSyncContract.tla (contract policy, key small_contract); generated "
            "counts the initial state, depth starts at 1 for it; seconds and workers are "
            "information only"
        ),
        "tla_hash": tla_hash(),
    }
    for model in MODELS:
        r = run_tlc(jar, workers=workers, module=model.module)
        entry[model.key] = {"policy": model.policy, "module": model.module, **r.to_json()}
        if on_model is not None:
            on_model(model, r)
    return entry
