"""``--dist loadscope`` that survives a crashed worker (pytest-xdist 3.8.0 hangs).

The README's test command runs the suite with ``-n auto --dist loadscope``. When a
worker process dies (a segfault inside Z3, say), xdist 3.8.0's
``LoadScopeScheduling.remove_node`` puts the dead worker's *whole* workload back on
the queue: the scopes it had finished too, and the test it died on, still marked
pending. A finished scope is later sent to a worker as an empty list of tests; the
worker answers nothing, the scheduler waits for an answer, and the run hangs until
CI's own time limit kills it (pytest-dev/pytest-xdist#1378 and #1313, open; a
replacement worker given a single test waits for a second one: #1327). A CI run of
this project did exactly that: one Z3 segfault, then 90 minutes of nothing.

:class:`CrashSafeLoadScope` is xdist's scheduler with those three things fixed:

- a crashed worker's finished scopes are not queued again;
- the test it died on is not run again (xdist has already reported it failed, and
  a test that kills the interpreter would kill each replacement in turn);
- a worker given work is always given two tests or told no more will come, since
  a worker runs a test only once it knows the next one.

A crash is then one failed test (``node down`` and the test's id in the report) and
the rest of the run goes on to its summary. ``tests/conftest.py`` installs it
through xdist's ``pytest_xdist_make_scheduler`` hook, only for ``--dist loadscope``.
"""

from __future__ import annotations

from xdist.scheduler.loadscope import LoadScopeScheduling
from xdist.workermanage import WorkerController


class CrashSafeLoadScope(LoadScopeScheduling):
    def remove_node(self, node: WorkerController) -> str | None:
        workload = self.assigned_work.pop(node)
        crashitem = next(
            (nid for unit in workload.values() for nid, done in unit.items() if not done), None
        )
        if crashitem is None:  # a clean shutdown: nothing was left
            return None
        for unit in workload.values():
            if crashitem in unit:
                unit[crashitem] = True  # reported failed by xdist; never run again
        # only the unfinished scopes go back on the queue, in front: they were next
        unfinished = [(s, u) for s, u in workload.items() if not all(u.values())]
        for scope, unit in reversed(unfinished):
            self.workqueue[scope] = unit
            self.workqueue.move_to_end(scope, last=False)
        for other in self.assigned_work:
            self._reschedule(other)
        return crashitem

    def _reschedule(self, node: WorkerController) -> None:
        if node.shutting_down:
            return
        if not self.workqueue:
            node.shutdown()
            return
        if self._pending_of(self.assigned_work[node]) > 2:
            return
        self._assign_work_unit(node)
        # a worker runs a test only when it knows the next one (or that none comes)
        while self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
            self._assign_work_unit(node)
        if not self.workqueue and self._pending_of(self.assigned_work[node]) < 2:
            node.shutdown()
