"""A thread with a command queue: the unit of concurrency of the scheduler.

Every component that owns state (the broker, each worker, the network in free
mode) is an :class:`Actor`: its state changes only on its own thread, by
commands taken one at a time from its queue. ``call`` hands a command over and
waits for its result (how the adapter makes every step synchronous); ``post``
hands one over without waiting (how messages arrive in free mode). An actor
started with a ``tick`` also runs :meth:`Actor.autonomous` between commands:
that is its own free-running behaviour (cycles, timeouts, deliveries).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TypeVar

T = TypeVar("T")

THREAD_PREFIX = "refsched-"


class ActorStopped(RuntimeError):
    """The actor's thread has stopped; the command was not run."""


class StepTimeout(TimeoutError):
    """A command did not finish in time (the actor is stuck or overloaded)."""


_Command = tuple[Callable[[], object], "Future[object] | None"]


class Actor:
    def __init__(self, name: str, tick: float | None = None) -> None:
        self.name = name
        self.tick = tick
        self.errors: list[BaseException] = []  # failures of posted commands
        self._commands: queue.Queue[_Command | None] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=THREAD_PREFIX + name, daemon=True)
        self._stopped = threading.Event()

    # --- lifecycle --------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the command in hand, fail the queued ones, join the thread."""
        if self._thread.is_alive():
            self._commands.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise StepTimeout(f"{self.name} did not stop within {timeout} s")
        self._stopped.set()
        self._fail_queued()

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._stopped.is_set()

    # --- handing commands over ----------------------------------------------------
    def submit(self, fn: Callable[[], T]) -> Future[T]:
        fut: Future[T] = Future()
        if self._stopped.is_set():
            fut.set_exception(ActorStopped(f"{self.name} is stopped"))
            return fut
        self._commands.put((fn, fut))  # type: ignore[arg-type]
        return fut

    def call(self, fn: Callable[[], T], timeout: float) -> T:
        """Run ``fn`` on the actor's thread and return its result (or raise its error)."""
        if threading.current_thread() is self._thread:
            return fn()
        fut = self.submit(fn)
        try:
            return fut.result(timeout)
        except FutureTimeout:
            raise StepTimeout(f"{self.name} did not finish within {timeout} s") from None

    def post(self, fn: Callable[[], object]) -> None:
        """Run ``fn`` on the actor's thread later; a failure is kept in ``errors``."""
        if not self._stopped.is_set():
            self._commands.put((fn, None))

    # --- the thread -----------------------------------------------------------------
    def autonomous(self) -> None:
        """Free-running behaviour between commands (only with a ``tick``)."""

    def _loop(self) -> None:
        while True:
            try:
                item = self._commands.get(timeout=self.tick)
            except queue.Empty:  # a tick without commands
                pass
            else:
                if item is None or not self._run_queued(item):
                    break
            if self.tick is not None:
                try:
                    self.autonomous()
                except Exception as e:  # kept for the owner to report; the actor goes on
                    self.errors.append(e)
        self._stopped.set()

    def _run_queued(self, item: _Command) -> bool:
        """Run ``item`` and every command already queued; False if told to stop."""
        while True:
            self._run(item)
            try:
                nxt = self._commands.get_nowait()
            except queue.Empty:
                return True
            if nxt is None:
                return False
            item = nxt

    def _run(self, item: _Command) -> None:
        fn, fut = item
        if fut is not None and not fut.set_running_or_notify_cancel():
            return
        try:
            result = fn()
        except BaseException as e:
            if fut is None:
                self.errors.append(e)
            else:
                fut.set_exception(e)
        else:
            if fut is not None:
                fut.set_result(result)

    def _fail_queued(self) -> None:
        while True:
            try:
                item = self._commands.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                _, fut = item
                if fut is not None and fut.set_running_or_notify_cancel():
                    fut.set_exception(ActorStopped(f"{self.name} is stopped"))
