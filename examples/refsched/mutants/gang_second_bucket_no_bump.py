"""Mutant: a gang commit bumps the seqno of its first bucket only."""

from __future__ import annotations

from bisect import insort

from parsync.refsched.adapter import RefSchedAdapter
from parsync.refsched.broker import CommitBroker
from parsync.refsched.messages import Proposal
from parsync.refsched.store import PLACED


class Broker(CommitBroker):
    def commit(self, m: Proposal) -> None:
        st = self.state
        for k, b in enumerate(m.buckets):
            if k == 0:  # BUG: the other buckets of a gang keep their seqno
                st.seq[b] += 1
            insort(st.claims[b], m.need)
        st.ledger[m.need] = sorted({*st.ledger[m.need], *m.buckets})
        st.status[m.need] = PLACED


def parsync_adapter() -> RefSchedAdapter:
    return RefSchedAdapter(broker=Broker)
