"""``parsync check --ray ADDRESS|auto``: the fingerprint-partitioned search on Ray.

The same search as ``parsync check --workers N`` (``parallel.py``): the same
``_Shard`` does the work, each one a Ray actor instead of a forked process, and
the same coordinator loop (``ParallelChecker._search``) sums the levels, applies
the budgets, saves checkpoints and rebuilds counterexamples. Only the transport
differs: ``_Actors`` submits a level as five rounds of actor calls
(``begin`` -> ``expand`` -> ``decide`` -> ``pack`` -> ``admit``), each call taking as
arguments the object references the others' previous call returned for it, so
Ray moves the payloads from actor to actor (from object store to object store
for the large ones; Ray inlines payloads under 100 KiB through the driver) and
the driver only waits for the small per-level reports.

``auto`` starts a new local Ray (``ray.init(address="local")``: one node, this
machine's cores);
any other address joins a running cluster (``ray start --head`` on one machine,
``ray start --address HEAD:6379`` on the others; docs/scale.md). Ray is an
optional extra: ``pip install 'parsync-spec[ray]'``.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parsync.engines.checker import CheckResult
from parsync.engines.parallel import (
    ParallelChecker,
    ShardError,
    _Level,
    _Shard,
    _Shards,
    _Start,
)
from parsync.model.protocol import ParSyncModel

EXTRA = "pip install 'parsync-spec[ray]'"


class RayError(ShardError):
    """Ray missing or unreachable, or an actor that failed or died (one line)."""


def import_ray() -> Any:
    """The ``ray`` module, or a ``RayError`` naming the extra to install."""
    try:
        import ray
    except ImportError:
        raise RayError(f"ray is not installed; install the extra: {EXTRA}") from None
    return ray


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in one line, and fast, when nothing listens at ``address`` (``ray.init``
    itself retries for a minute or more)."""
    where = address.removeprefix("ray://")
    host, _, port = where.rpartition(":")
    if not host or not port.isdigit():
        raise RayError(f"expected a Ray address HOST:PORT (or auto), got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as e:
        raise RayError(
            f"cannot reach a Ray cluster at {address}: {e.strerror or e}"
            " (start one with `ray start --head`, or use --ray auto)"
        ) from None


def connect(ray: Any, address: str, options: dict[str, Any] | None = None) -> bool:
    """Connect this process to Ray: ``auto`` starts a local one, any other address joins a
    running cluster; an already connected process keeps its connection. True when this
    call made the connection (so the caller shuts it down)."""
    if address != "auto":
        _reachable(address)
    if ray.is_initialized():
        return False
    kw: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    if address == "auto":
        # "local": always a new local Ray. Ray's own default (no address) would join the
        # cluster in RAY_ADDRESS or the last one `ray start` recorded on this machine, and
        # waits minutes on such a record left by a cluster since stopped
        kw.update(address="local", include_dashboard=False)
    else:
        kw["address"] = address
    kw.update(options or {})
    try:
        ray.init(**kw)
    except Exception as e:  # noqa: BLE001 - Ray's errors are many and multi-line
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        hint = (
            ""
            if address == "auto"
            else " (a cluster with token authentication, the default from Ray 2.59, also "
            "needs RAY_AUTH_MODE=token and its token here: `ray get-auth-token` on the head)"
        )
        raise RayError(f"cannot start or join Ray at {address}: {first}{hint}") from None
    return True


class _ActorShard(_Shard):
    """A ``_Shard`` as a Ray actor (built as ``_Shard(k, *start)``): the payloads of the
    others arrive as arguments (in shard order, without this one), the payloads for the
    others leave as one return value each (``num_returns`` = the shard count)."""

    def _in(self, payloads: Sequence[Any]) -> dict[int, Any]:
        others = [j for j in range(self.n) if j != self.k]
        return {j: p for j, p in zip(others, payloads, strict=True) if p is not None}

    def _out(self, payloads: list[Any]) -> Any:
        return tuple(payloads) if self.n > 1 else payloads

    def ready(self) -> int:
        """The first call on every actor: from here on its process runs this shard only."""
        gc.disable()  # acyclic tuples only, as in the other engines
        return self.frontier_size()

    def begin_out(self) -> Any:
        return self._out(self.begin())

    def expand_out(self, *keys: Any) -> Any:
        return self._out(self.expand(self._in(keys)))

    def decide_out(self, *offers: Any) -> Any:
        return self._out(self.decide(self._in(offers)))

    def pack_out(self, *won: Any) -> Any:
        return self._out(self.pack(self._in(won)))

    def admit_out(self, *shipped: Any) -> _Level:
        return self.admit(self._in(shipped))


class _Actors(_Shards):
    """The shards as Ray actors, one level submitted at once as five rounds of calls."""

    def __init__(self, ray: Any, start: _Start) -> None:
        self.ray, self.n = ray, start.n
        # a core per shard when the cluster has them (Ray then places them on distinct
        # cores, spread over the nodes); else Ray's default for actors, which reserves none
        opts: dict[str, Any] = {"max_restarts": 0, "scheduling_strategy": "SPREAD"}
        if ray.cluster_resources().get("CPU", 0) >= start.n:
            opts["num_cpus"] = 1
        cls = ray.remote(_ActorShard).options(**opts)
        start = start._replace(model=ray.put(start.model))  # sent once, not once per actor
        self.actors = [cls.remote(k, *start) for k in range(start.n)]

    def _round(self, method: str, before: list[list[Any]] | None) -> list[list[Any]]:
        """Call ``method`` on every actor with the references the previous round returned
        for it; the references it returns, per actor, one per destination."""
        n, out = self.n, []
        for k, a in enumerate(self.actors):
            args = [] if before is None else [before[j][k] for j in range(n) if j != k]
            refs = getattr(a, method).options(num_returns=n).remote(*args)
            out.append(refs if n > 1 else [refs])
        return out

    def step(self) -> dict[int, _Level]:
        keys = self._round("begin_out", None)
        offers = self._round("expand_out", keys)
        won = self._round("decide_out", offers)
        ships = self._round("pack_out", won)
        levels = [
            a.admit_out.remote(*[ships[j][k] for j in range(self.n) if j != k])
            for k, a in enumerate(self.actors)
        ]
        return dict(enumerate(self._get(levels, [keys, offers, won, ships])))

    def ready(self) -> int:
        return sum(self._get([a.ready.remote() for a in self.actors], []))

    def save(self, where: str, tag: str) -> None:
        self._get([a.save.remote(where, tag) for a in self.actors], [])

    def path(self, key: int, level: int) -> list[int]:
        return self._get([self.actors[0].path.remote(key, level)], [])[0]  # type: ignore[no-any-return]

    def close(self) -> None:
        # each actor removes its spill files (its node's disk), then is stopped
        with contextlib.suppress(Exception):
            self.ray.get([a.cleanup.remote() for a in self.actors], timeout=30)
        for a in self.actors:
            try:
                self.ray.kill(a)
            except Exception:  # noqa: BLE001, S110 - already gone
                pass

    def _get(self, refs: list[Any], rounds: list[list[list[Any]]]) -> list[Any]:
        ray = self.ray
        try:
            return list(ray.get(refs))
        except ray.exceptions.RayError as e:  # a task that raised, an actor lost, an object lost
            raise self._culprit(e, refs, rounds) from None

    def _culprit(self, err: Exception, refs: list[Any], rounds: list[list[list[Any]]]) -> RayError:
        """The first shard, in the first round, whose call failed (a failure reaches the
        later calls that depend on it, so the first round that has one names its source)."""
        ray = self.ray
        for by_actor in [*rounds, [[r] for r in refs]]:
            for k, mine in enumerate(by_actor):
                ready, _ = ray.wait(mine, num_returns=len(mine), timeout=30)
                try:
                    ray.get(ready)
                except ray.exceptions.RayError as e:
                    return self._describe(k, e)
        return self._describe(-1, err)

    def _describe(self, k: int, e: Exception) -> RayError:
        ray, n = self.ray, self.n
        who = f"shard {k} of {n}" if k >= 0 else f"a shard of {n}"
        if isinstance(e, ray.exceptions.RayActorError):
            return RayError(
                f"{who} died (its Ray actor exited: {type(e).__name__}); "
                "out of memory? try fewer --workers or a smaller scope",
                detail=str(e),
            )
        cause = getattr(e, "cause", None)
        last = f"{type(cause).__name__}: {cause}" if cause is not None else type(e).__name__
        return RayError(f"{who} failed: {last}", detail=str(e))


class RayChecker(ParallelChecker):
    """``ParallelChecker`` with its shards as Ray actors: the same counts, verdict and
    counterexample. ``address`` is ``auto`` (start a local Ray) or a running cluster's
    ``HOST:PORT``; ``workers=None`` makes one actor per CPU of the cluster. A process
    already connected to Ray (``ray.init`` done) keeps its connection.
    ``ray_options`` go to ``ray.init``."""

    def __init__(
        self,
        model: ParSyncModel,
        *,
        address: str = "auto",
        workers: int | None = None,
        ray_options: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        self.ray = import_ray()
        super().__init__(model, workers=workers or 1, **kw)
        self.address = address
        self.ray_options = ray_options
        self._auto_workers = workers is None

    def _open(self, start: _Start) -> _Shards:
        if start.resume is not None:  # actors may run elsewhere: an absolute (shared) path
            where, tag, old_n, found = start.resume
            start = start._replace(resume=(str(Path(where).resolve()), tag, old_n, found))
        return _Actors(self.ray, start)

    def run(self) -> CheckResult:
        ray = self.ray
        started = connect(ray, self.address, self.ray_options)
        try:
            if self._auto_workers:
                self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
                self.shard_seconds = [{} for _ in range(self.workers)]
            result = super().run()
        finally:
            if started:
                ray.shutdown()
        result.extra["backend"] = "ray"
        result.extra["ray_address"] = self.address
        return result


__all__ = ["EXTRA", "RayChecker", "RayError", "connect", "import_ray"]
