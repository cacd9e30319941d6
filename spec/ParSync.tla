------------------------------- MODULE ParSync -------------------------------
(***************************************************************************)
(* ParSync partitioned synchronisation over Omega-style OCC (ADR-0031).    *)
(*                                                                         *)
(* A TLA+ rendering of model/protocol.py, action for action, for readers   *)
(* and users of TLC. Workers read the broker's per-bucket state, refresh   *)
(* ONE partition per cycle (rotation: cycle mod P) and carry the others    *)
(* forward; the commit broker accepts a proposal only if every seqno it    *)
(* read is still current (CAS), highest priority first on shared buckets. *)
(* Workers, partitions, buckets and needs are numbered from 0 as in the    *)
(* Python model. Names (actions, properties) are the model's names;        *)
(* tests/test_tla.py keeps the two in step. PS-L1..PS-L3 are stated for    *)
(* the model without the cycle bound: under the bound TLC would report     *)
(* them violated by stuttering at MaxCycle (see docs/liveness.md).         *)
(*                                                                         *)
(* Two policies (docs/contract.md), selected by the constant Policy:       *)
(*  "contract": every choice ADR-0031 leaves open is a nondeterministic    *)
(*    choice: Propose or Defer any pending need at any time, the adaptive  *)
(*    strategy in either mode at each proposal, StartCycle at any time,    *)
(*    Timeout, extra fresh reads (Refresh), recovery with nothing re-read  *)
(*    (Restart) and any broker reply that is true of a proposal (Reject);  *)
(*    timeouts and extra reads are budgeted like faults. The network and   *)
(*    the broker's inbox are apart: Deliver moves a proposal from to_broker *)
(*    into inbox; the broker decides (Commit, Reject) on its inbox only,   *)
(*    priority on conflict looks only there, drops and duplicates act on   *)
(*    the network, and Failover keeps the inbox (a durable queue).         *)
(*  "reference": one implementation's heuristics, a restriction of the     *)
(*    contract (head need first, defer only when nothing fits, a timeout   *)
(*    only once the proposal and its reply are both lost, delivery and     *)
(*    decision in one Commit step over to_broker: inbox stays empty, ...). *)
(* Guards that differ between the policies are mutually exclusive          *)
(* disjuncts or IF-THEN-ELSE, so that TLC generates each successor once,   *)
(* as the Python checker counts transitions (tests/test_tla.py).           *)
(***************************************************************************)
EXTENDS Integers, Sequences, FiniteSets, TLC

CONSTANTS
    Policy,       \* "contract" | "reference"
    W,            \* number of workers
    P,            \* number of partitions
    Capacity,     \* [Buckets -> Nat]: capacity of each bucket
    PartitionOf,  \* [Buckets -> Partitions]: shared by broker and workers
    Owner,        \* [Needs -> Workers]
    Priority,     \* [Needs -> Nat]
    Arrival,      \* [Needs -> Nat]: the first cycle in which the need exists
    Gang,         \* [Needs -> Nat]: how many distinct buckets it spans
    Size,         \* [Needs -> Nat]: units on each of its buckets
    Eligible,     \* [Needs -> SUBSET Buckets]
    R,            \* retry budget per need and cycle
    Strategy,     \* "latency-first" | "quality-first" | "adaptive"
    MaxCycle,     \* state constraint: the cycle bound (safety checking only)
    MaxCrash, MaxDrop, MaxDup, MaxFailover,  \* fault budgets (0 = off)
    MaxTimeout,   \* contract: Timeouts (and StartCycles abandoning an attempt in flight)
    MaxExtraRead  \* contract: extra fresh reads (Refresh)

ASSUME Policy \in {"contract", "reference"}
Contract == Policy = "contract"

Workers == 0 .. W - 1
Partitions == 0 .. P - 1
Buckets == DOMAIN Capacity
Needs == DOMAIN Owner
Members(p) == {b \in Buckets : PartitionOf[b] = p}

LATENCY == 0
QUALITY == 1
UNPLACED == 0
PLACED == 1
RELEASED == 2
Kinds == {"Committed", "Conflict", "AlreadyPlaced", "Fenced"}
InitialMode == IF Strategy = "latency-first" THEN LATENCY ELSE QUALITY

VARIABLES
    broker,      \* [epoch, seq, claims, ledger, status]: the commit broker
    workers,     \* [Workers -> worker record]: cycle, mode, view, pending, ...
    to_broker,   \* proposals in flight: a bag [Proposal -> count]
    to_workers,  \* replies in flight: a bag [Reply -> count]
    faults,      \* [crash, drop, dup, timeout, extra_read]: budgets used so far
    placed,      \* ghost: per need, how many times it was committed
    inbox        \* contract: proposals the broker has received, a bag (reference: empty)

vars == <<broker, workers, to_broker, to_workers, faults, placed, inbox>>

(* A worker record (model/state.py's Worker, field for field):              *)
(*   up, cycle, mode (LATENCY/QUALITY), epoch (of its latest read),         *)
(*   fresh_at[p] (its own bookkeeping), view[p] (carry-forward snapshots),  *)
(*   pending (needs still to place this cycle, head first), waiting (a      *)
(*   proposal for the head is outstanding), retries, attempts (the reply    *)
(*   tag), known (own needs it knows are placed), sent (ghost: proposals    *)
(*   of the head this cycle, for PS-6) and parked (contract only: the       *)
(*   needs set aside this cycle, as <<need, retries, attempts, sent>>).     *)

(* A snapshot is the partition as read: the ghost read_at cycle plus        *)
(* [seq, used] per member bucket. view[p] is a sequence of snapshots.       *)
\* (a predicate, not a set: TLC checks membership field by field and never has
\* to enumerate the snapshots of every partition)
IsSnapshot(s) ==
    /\ s \in [read_at : Int, entries : [DOMAIN s.entries -> [seq : Nat, used : Nat]]]
    /\ \E p \in Partitions : DOMAIN s.entries = Members(p)
Proposal == [worker : Workers, need : Needs, priority : Nat, epoch : Nat,
             reads : SUBSET (Buckets \X Nat), cycle : Nat, attempt : Nat,
             fresh : Partitions]
Reply == [worker : Workers, need : Needs, kind : Kinds, cycle : Nat,
          attempt : Nat, buckets : SUBSET Buckets]

TypeOK ==
    /\ broker.epoch \in Nat
    /\ broker.seq \in [Buckets -> Nat]
    /\ broker.claims \in [Buckets -> SUBSET Needs]
    /\ broker.ledger \in [Needs -> SUBSET Buckets]
    /\ broker.status \in [Needs -> {UNPLACED, PLACED, RELEASED}]
    /\ \A w \in Workers :
        /\ workers[w].up \in BOOLEAN
        /\ workers[w].cycle \in Nat
        /\ workers[w].mode \in {LATENCY, QUALITY}
        /\ workers[w].epoch \in Nat
        /\ workers[w].fresh_at \in [Partitions -> Int]
        /\ DOMAIN workers[w].view = Partitions
        /\ \A p \in Partitions :
              /\ DOMAIN workers[w].view[p] = 1 .. Len(workers[w].view[p])
              /\ \A i \in 1 .. Len(workers[w].view[p]) : IsSnapshot(workers[w].view[p][i])
        /\ workers[w].pending \in Seq(Needs)
        /\ workers[w].waiting \in BOOLEAN
        /\ workers[w].retries \in Nat
        /\ workers[w].attempts \in Nat
        /\ workers[w].known \in SUBSET Needs
        /\ workers[w].sent \in Nat
        /\ workers[w].parked \subseteq Needs \X Nat \X Nat \X Nat
        /\ workers[w].reread \subseteq Partitions
    /\ DOMAIN to_broker \subseteq Proposal
    /\ DOMAIN to_workers \subseteq Reply
    /\ DOMAIN inbox \subseteq Proposal
    /\ faults \in [crash : Nat, drop : Nat, dup : Nat, timeout : Nat, extra_read : Nat]
    /\ placed \in [Needs -> Nat]

-----------------------------------------------------------------------------
(* Helpers *)

SumOf(S, f(_)) ==
    LET Sum[T \in SUBSET S] ==
        IF T = {} THEN 0 ELSE LET x == CHOOSE y \in T : TRUE IN f(x) + Sum[T \ {x}]
    IN Sum[S]
Used(b) == SumOf(broker.claims[b], LAMBDA n : Size[n])
Max(S) == CHOOSE x \in S : \A y \in S : y <= x
Last(s) == s[Len(s)]
Range(s) == {s[i] : i \in DOMAIN s}
Rotation(c) == c % P

Read(p, at) == [read_at |-> at,
                entries |-> [b \in Members(p) |-> [seq |-> broker.seq[b], used |-> Used(b)]]]

\* fresh read of the partitions in ps: view, fresh_at and epoch updated; the
\* ghost reread (PS-11) forgets them: they have been read again
Reread(wr, ps) ==
    [wr EXCEPT !.view = [p \in Partitions |-> IF p \in ps THEN <<Read(p, wr.cycle)>>
                                                         ELSE wr.view[p]],
               !.fresh_at = [p \in Partitions |-> IF p \in ps THEN wr.cycle
                                                             ELSE wr.fresh_at[p]],
               !.epoch = broker.epoch,
               !.reread = @ \ ps]

ViewEntry(wr, b) == Last(wr.view[PartitionOf[b]]).entries[b]

\* bucket sets the worker may propose for need n (strategy and view room); under
\* the contract the adaptive strategy may be in either mode: any partition
Choices(wr, n) ==
    LET latency == wr.mode = LATENCY /\ ~(Contract /\ Strategy = "adaptive")
        allowed == IF latency
                   THEN {p \in Partitions : wr.fresh_at[p] = Max({wr.fresh_at[q] : q \in Partitions})}
                   ELSE Partitions
    IN {bs \in SUBSET Eligible[n] :
          /\ Cardinality(bs) = Gang[n]
          /\ \A b \in bs : /\ PartitionOf[b] \in allowed
                           /\ wr.view[PartitionOf[b]] # <<>>
                           /\ ViewEntry(wr, b).used + Size[n] <= Capacity[b]}

BagAdd(bag, m) == IF m \in DOMAIN bag THEN [bag EXCEPT ![m] = @ + 1]
                  ELSE [x \in DOMAIN bag \cup {m} |-> IF x = m THEN 1 ELSE bag[x]]
BagRemove(bag, m) == IF bag[m] = 1 THEN [x \in DOMAIN bag \ {m} |-> bag[x]]
                     ELSE [bag EXCEPT ![m] = @ - 1]

\* a worker's needs, highest priority first (ties: lowest id)
SortedNeeds(w) ==
    LET mine == {n \in Needs : Owner[n] = w}
        Before(a, b) == Priority[a] > Priority[b] \/ (Priority[a] = Priority[b] /\ a < b)
        Rank(n) == Cardinality({m \in mine : Before(m, n)})
    IN [i \in 1 .. Cardinality(mine) |-> CHOOSE n \in mine : Rank(n) = i - 1]

\* the head need leaves pending; the next one's counters are restored if it was
\* set aside earlier in the cycle (contract), else zero
NextNeed(wr) ==
    LET rest == Tail(wr.pending)
        back == {e \in wr.parked : rest # <<>> /\ e[1] = Head(rest)}
        e == CHOOSE x \in back : TRUE
    IN IF back = {}
       THEN [wr EXCEPT !.pending = rest, !.waiting = FALSE, !.retries = 0, !.attempts = 0,
                       !.sent = 0]
       ELSE [wr EXCEPT !.pending = rest, !.waiting = FALSE, !.retries = e[2], !.attempts = e[3],
                       !.sent = e[4], !.parked = @ \ back]

\* contract: worker w takes pending need n up (moves it to the head); the old
\* head's counters are set aside in parked, n's restored (zero if not worked on)
Focus(w, n) ==
    LET wr == workers[w]
        head == Head(wr.pending)
        aside == IF wr.sent # 0 \/ wr.attempts # 0 \/ wr.retries # 0
                 THEN wr.parked \cup {<<head, wr.retries, wr.attempts, wr.sent>>}
                 ELSE wr.parked
        back == {e \in aside : e[1] = n}
        e == CHOOSE x \in back : TRUE
        rest == SelectSeq(SortedNeeds(w), LAMBDA x : x # n /\ x \in Range(wr.pending))
    IN IF n = head THEN wr
       ELSE [wr EXCEPT !.pending = <<n>> \o rest,
                       !.retries = IF back = {} THEN 0 ELSE e[2],
                       !.attempts = IF back = {} THEN 0 ELSE e[3],
                       !.sent = IF back = {} THEN 0 ELSE e[4],
                       !.parked = aside \ back]

\* adaptive: a deferral (scheduling delay observed) widens the search
Widen(wr) == IF Strategy = "adaptive" THEN [wr EXCEPT !.mode = QUALITY] ELSE wr

\* the proposal or reply of the worker's outstanding attempt is still in flight
\* (or, under the contract, in the broker's inbox)
InFlight(w) ==
    \/ \E m \in DOMAIN to_broker \cup DOMAIN inbox :
        m.worker = w /\ m.cycle = workers[w].cycle /\ m.attempt = workers[w].attempts
    \/ \E r \in DOMAIN to_workers :
        r.worker = w /\ r.cycle = workers[w].cycle /\ r.attempt = workers[w].attempts

\* what the broker decides on: its inbox (contract), every proposal in flight
\* (reference: delivery and decision are one step)
Pending == IF Contract THEN inbox ELSE to_broker

\* a higher-priority proposal in the broker's queue shares a bucket with m
Blocked(m) == \E o \in DOMAIN Pending :
                 /\ o.priority > m.priority
                 /\ \E x \in o.reads, y \in m.reads : x[1] = y[1]

Buckets_(m) == {x[1] : x \in m.reads}
Conflicted(m) == {x[1] : x \in {y \in m.reads : broker.seq[y[1]] # y[2]}}
MkReply(m, kind, bs) == [worker |-> m.worker, need |-> m.need, kind |-> kind,
                         cycle |-> m.cycle, attempt |-> m.attempt, buckets |-> bs]

\* the non-commit replies that are true of m (the contract's broker may give any)
TrueReplies(m) ==
    (IF m.epoch # broker.epoch THEN {"Fenced"} ELSE {})
    \cup (IF broker.status[m.need] # UNPLACED THEN {"AlreadyPlaced"} ELSE {})
    \cup (IF Conflicted(m) # {} THEN {"Conflict"} ELSE {})

-----------------------------------------------------------------------------
(* Init: every worker starts with a full bootstrap read at cycle 0. *)

Init ==
    /\ broker = [epoch |-> 0, seq |-> [b \in Buckets |-> 0],
                 claims |-> [b \in Buckets |-> {}], ledger |-> [n \in Needs |-> {}],
                 status |-> [n \in Needs |-> UNPLACED]]
    /\ workers = [w \in Workers |->
                    [up |-> TRUE, cycle |-> 0, mode |-> InitialMode, epoch |-> 0,
                     fresh_at |-> [p \in Partitions |-> 0],
                     view |-> [p \in Partitions |-> <<Read(p, 0)>>],
                     pending |-> <<>>, waiting |-> FALSE, retries |-> 0,
                     attempts |-> 0, known |-> {}, sent |-> 0, parked |-> {}, reread |-> {}]]
    /\ to_broker = <<>>
    /\ to_workers = <<>>
    /\ faults = [crash |-> 0, drop |-> 0, dup |-> 0, timeout |-> 0, extra_read |-> 0]
    /\ placed = [n \in Needs |-> 0]
    /\ inbox = <<>>

-----------------------------------------------------------------------------
(* Actions: guards first, then the new values, then what is unchanged. *)

\* cycle += 1; refresh partition (cycle mod P); pending := arrived, not known
\* placed. Reference: a live worker starts a cycle when idle, or when its
\* outstanding proposal and reply are both lost. Contract: at any time; while
\* the attempt is still in flight that is a timeout (budgeted). A crashed
\* worker's cycles tick.
StartCycle(w) ==
    LET wr == workers[w]
        c == wr.cycle + 1
        fresh == Reread([wr EXCEPT !.cycle = c], {Rotation(c)})
        ready == SelectSeq(SortedNeeds(w), LAMBDA n : Arrival[n] <= c /\ n \notin wr.known)
    IN /\ wr.cycle < MaxCycle
       /\ IF ~wr.up
          THEN /\ workers' = [workers EXCEPT ![w].cycle = c]
               /\ UNCHANGED faults
          ELSE /\ \/ Contract
                  \/ ~Contract /\ ~wr.waiting /\ wr.pending = <<>>
                  \/ ~Contract /\ wr.waiting /\ ~InFlight(w)
               /\ IF wr.waiting /\ InFlight(w)
                  THEN /\ faults.timeout < MaxTimeout
                       /\ faults' = [faults EXCEPT !.timeout = @ + 1]
                  ELSE UNCHANGED faults
               /\ workers' = [workers EXCEPT ![w] = [fresh EXCEPT !.pending = ready,
                                  !.waiting = FALSE, !.retries = 0, !.attempts = 0,
                                  !.sent = 0, !.parked = {}]]
       /\ UNCHANGED <<broker, to_broker, to_workers, placed, inbox>>

\* propose need n on buckets the view says have room. Reference: the head need.
\* Contract: any pending need, at most R + 1 proposals of it per cycle (PS-6).
Propose(w, bs, n) ==
    LET wr == Focus(w, n)
        m == [worker |-> w, need |-> n, priority |-> Priority[n], epoch |-> wr.epoch,
              reads |-> {<<b, ViewEntry(wr, b).seq>> : b \in bs}, cycle |-> wr.cycle,
              attempt |-> wr.attempts + 1, fresh |-> Rotation(wr.cycle)]
    IN /\ workers[w].up /\ ~workers[w].waiting /\ workers[w].pending # <<>>
       /\ IF Contract THEN n \in Range(workers[w].pending) /\ wr.attempts < R + 1
                      ELSE n = Head(workers[w].pending)
       /\ bs \in Choices(wr, n)
       /\ workers' = [workers EXCEPT ![w] = [wr EXCEPT !.waiting = TRUE, !.attempts = @ + 1,
                                                       !.sent = @ + 1]]
       /\ to_broker' = BagAdd(to_broker, m)
       /\ UNCHANGED <<broker, to_workers, faults, placed, inbox>>

\* need n waits for a later cycle (adaptive: widen). Reference: the head need,
\* when nothing fits. Contract: any pending need, any time.
Defer(w, n) ==
    LET wr == workers[w]
        held == IF n = Head(wr.pending) THEN NextNeed(wr)
                ELSE [wr EXCEPT !.pending = SelectSeq(@, LAMBDA x : x # n),
                                !.parked = {e \in @ : e[1] # n}]
    IN /\ wr.up /\ ~wr.waiting /\ wr.pending # <<>>
       /\ IF Contract THEN n \in Range(wr.pending)
                      ELSE n = Head(wr.pending) /\ Choices(wr, n) = {}
       /\ workers' = [workers EXCEPT ![w] = Widen(held)]
       /\ UNCHANGED <<broker, to_broker, to_workers, faults, placed, inbox>>

\* fence older epochs; AlreadyPlaced for a placed need; else seqno CAS over
\* every touched bucket. No capacity re-check: the CAS must be enough. The
\* broker takes m from what it decides on (Pending): the contract's inbox, the
\* reference's network (delivery and decision in one step).
Commit(m) ==
    LET reply == IF m.epoch # broker.epoch THEN MkReply(m, "Fenced", {})
                 ELSE IF broker.status[m.need] # UNPLACED THEN MkReply(m, "AlreadyPlaced", {})
                 ELSE IF Conflicted(m) # {} THEN MkReply(m, "Conflict", Conflicted(m))
                 ELSE MkReply(m, "Committed", {})
    IN /\ m \in DOMAIN Pending
       /\ ~Blocked(m)
       /\ IF Contract THEN /\ inbox' = BagRemove(inbox, m)
                          /\ UNCHANGED to_broker
                     ELSE /\ to_broker' = BagRemove(to_broker, m)
                          /\ UNCHANGED inbox
       /\ to_workers' = BagAdd(to_workers, reply)
       /\ IF reply.kind = "Committed"
          THEN /\ broker' = [broker EXCEPT
                    !.seq = [b \in Buckets |-> IF b \in Buckets_(m) THEN @[b] + 1 ELSE @[b]],
                    !.claims = [b \in Buckets |-> IF b \in Buckets_(m) THEN @[b] \cup {m.need}
                                                  ELSE @[b]],
                    !.ledger[m.need] = @ \cup Buckets_(m),
                    !.status[m.need] = PLACED]
               /\ placed' = [placed EXCEPT ![m.need] = @ + 1]
          ELSE UNCHANGED <<broker, placed>>
       /\ UNCHANGED <<workers, faults>>

\* Committed/AlreadyPlaced: next need. Conflict: forced fresh read of the
\* conflicted partitions, retry (adaptive: narrow). Fenced: full re-read.
\* Past R: defer. A reply that is not the outstanding attempt's is discarded.
HandleReply(r) ==
    LET wr == workers[r.worker]
        current == wr.waiting /\ wr.pending # <<>> /\ r.need = Head(wr.pending)
                   /\ r.cycle = wr.cycle /\ r.attempt = wr.attempts
        conflicted == {PartitionOf[b] : b \in r.buckets}
        \* the ghost (PS-11) marks the conflicted partitions; the forced re-read clears them
        reread == IF r.kind = "Conflict"
                  THEN Reread([wr EXCEPT !.reread = @ \cup conflicted], conflicted)
                  ELSE Reread(wr, Partitions)
        narrowed == IF r.kind = "Conflict" /\ Strategy = "adaptive"
                    THEN [reread EXCEPT !.mode = LATENCY] ELSE reread
        retried == IF wr.retries + 1 > R THEN NextNeed(narrowed)
                   ELSE [narrowed EXCEPT !.waiting = FALSE, !.retries = @ + 1]
        new == IF ~current THEN wr
               ELSE IF r.kind \in {"Committed", "AlreadyPlaced"}
                    THEN NextNeed([wr EXCEPT !.known = @ \cup {r.need}])
               ELSE retried
    IN /\ r \in DOMAIN to_workers
       /\ wr.up
       /\ workers' = [workers EXCEPT ![r.worker] = new]
       /\ to_workers' = BagRemove(to_workers, r)
       /\ UNCHANGED <<broker, to_broker, faults, placed, inbox>>

\* a placed need completes: claims removed, seqnos rise
Release(n) ==
    /\ broker.status[n] = PLACED
    /\ broker' = [broker EXCEPT
          !.seq = [b \in Buckets |-> IF b \in broker.ledger[n] THEN @[b] + 1 ELSE @[b]],
          !.claims = [b \in Buckets |-> @[b] \ {n}],
          !.ledger[n] = {},
          !.status[n] = RELEASED]
    /\ UNCHANGED <<workers, to_broker, to_workers, faults, placed, inbox>>

\* faults ---------------------------------------------------------------------

Crash(w) ==
    /\ workers[w].up /\ faults.crash < MaxCrash
    /\ workers' = [workers EXCEPT ![w] = [@ EXCEPT !.up = FALSE, !.mode = InitialMode,
                     !.fresh_at = [p \in Partitions |-> -1],
                     !.view = [p \in Partitions |-> <<>>], !.pending = <<>>,
                     !.waiting = FALSE, !.retries = 0, !.attempts = 0, !.known = {},
                     !.sent = 0, !.parked = {}]]
    /\ faults' = [faults EXCEPT !.crash = @ + 1]
    /\ UNCHANGED <<broker, to_broker, to_workers, placed, inbox>>

\* back up with one full re-read
Recover(w) ==
    /\ ~workers[w].up
    /\ workers' = [workers EXCEPT ![w] = Reread([@ EXCEPT !.up = TRUE], Partitions)]
    /\ UNCHANGED <<broker, to_broker, to_workers, faults, placed, inbox>>

\* the network's faults: never the broker's inbox
Drop(m) ==
    /\ faults.drop < MaxDrop
    /\ \/ m \in DOMAIN to_broker /\ to_broker' = BagRemove(to_broker, m)
                                 /\ UNCHANGED to_workers
       \/ m \in DOMAIN to_workers /\ to_workers' = BagRemove(to_workers, m)
                                  /\ UNCHANGED to_broker
    /\ faults' = [faults EXCEPT !.drop = @ + 1]
    /\ UNCHANGED <<broker, workers, placed, inbox>>

Duplicate(m) ==
    /\ faults.dup < MaxDup
    /\ \/ m \in DOMAIN to_broker /\ to_broker' = BagAdd(to_broker, m)
                                 /\ UNCHANGED to_workers
       \/ m \in DOMAIN to_workers /\ to_workers' = BagAdd(to_workers, m)
                                  /\ UNCHANGED to_broker
    /\ faults' = [faults EXCEPT !.dup = @ + 1]
    /\ UNCHANGED <<broker, workers, placed, inbox>>

\* a new broker epoch, recovered from the durable state; the inbox is durable
\* too (the new epoch fences the old proposals in it)
Failover ==
    /\ broker.epoch < MaxFailover
    /\ broker' = [broker EXCEPT !.epoch = @ + 1]
    /\ UNCHANGED <<workers, to_broker, to_workers, faults, placed, inbox>>

\* contract steps --------------------------------------------------------------

\* a waiting worker abandons its outstanding attempt (whatever is in flight);
\* replies to it no longer match (the next proposal has a new attempt tag)
Timeout(w) ==
    /\ Contract
    /\ workers[w].up /\ workers[w].waiting
    /\ faults.timeout < MaxTimeout
    /\ workers' = [workers EXCEPT ![w].waiting = FALSE]
    /\ faults' = [faults EXCEPT !.timeout = @ + 1]
    /\ UNCHANGED <<broker, to_broker, to_workers, placed, inbox>>

\* an extra fresh read of partition p (more freshness never hurts PS-3)
Refresh(w, p) ==
    /\ Contract
    /\ workers[w].up
    /\ faults.extra_read < MaxExtraRead
    /\ workers' = [workers EXCEPT ![w] = Reread(@, {p})]
    /\ faults' = [faults EXCEPT !.extra_read = @ + 1]
    /\ UNCHANGED <<broker, to_broker, to_workers, placed, inbox>>

\* a crashed worker comes back with nothing read; it re-reads with Refresh or
\* the rotation, and cannot name a bucket of a partition it holds no data of
Restart(w) ==
    /\ Contract
    /\ ~workers[w].up
    /\ workers' = [workers EXCEPT ![w].up = TRUE]
    /\ UNCHANGED <<broker, to_broker, to_workers, faults, placed, inbox>>

\* the broker answers m with any non-commit reply that is true of it (its check
\* order is free); Conflict names every stale bucket. It answers what it has
\* received: m is taken from its inbox
Reject(m, k) ==
    /\ Contract
    /\ m \in DOMAIN inbox
    /\ k \in TrueReplies(m)
    /\ inbox' = BagRemove(inbox, m)
    /\ to_workers' = BagAdd(to_workers, MkReply(m, k, IF k = "Conflict" THEN Conflicted(m)
                                                                      ELSE {}))
    /\ UNCHANGED <<broker, workers, to_broker, faults, placed>>

\* the network hands one copy of proposal m to the broker's inbox
Deliver(m) ==
    /\ Contract
    /\ m \in DOMAIN to_broker
    /\ to_broker' = BagRemove(to_broker, m)
    /\ inbox' = BagAdd(inbox, m)
    /\ UNCHANGED <<broker, workers, to_workers, faults, placed>>

-----------------------------------------------------------------------------

Next ==
    \/ \E w \in Workers : StartCycle(w)
    \/ \E w \in Workers, n \in Needs, bs \in SUBSET Buckets : Propose(w, bs, n)
    \/ \E w \in Workers, n \in Needs : Defer(w, n)
    \/ \E m \in DOMAIN Pending : Commit(m)
    \/ \E r \in DOMAIN to_workers : HandleReply(r)
    \/ \E n \in Needs : Release(n)
    \/ \E w \in Workers : Crash(w)
    \/ \E w \in Workers : Recover(w)
    \/ \E m \in DOMAIN to_broker \cup DOMAIN to_workers : Drop(m)
    \/ \E m \in DOMAIN to_broker \cup DOMAIN to_workers : Duplicate(m)
    \/ Failover
    \/ \E w \in Workers : Timeout(w)
    \/ \E w \in Workers, p \in Partitions : Refresh(w, p)
    \/ \E w \in Workers : Restart(w)
    \/ \E m \in DOMAIN inbox, k \in Kinds : Reject(m, k)
    \/ \E m \in DOMAIN to_broker : Deliver(m)

\* Weak fairness for the protocol's own steps, per instance; faults
\* (Crash, Recover, Drop, Duplicate, Failover) and the contract's optional
\* steps (Timeout, Refresh, Restart, Reject) are not fair. The network's
\* delivery of each proposal into the broker's inbox (contract) is strongly
\* fair, as in parsync/engines/liveness.py.
Fairness ==
    /\ \A w \in Workers : WF_vars(StartCycle(w))
    /\ \A w \in Workers :
          WF_vars(\E n \in Needs : Defer(w, n) \/ \E bs \in SUBSET Buckets : Propose(w, bs, n))
    /\ \A m \in Proposal : WF_vars(Commit(m))
    /\ \A m \in Proposal : SF_vars(Deliver(m))
    /\ \A r \in Reply : WF_vars(HandleReply(r))
    /\ \A n \in Needs : WF_vars(Release(n))

Spec == Init /\ [][Next]_vars /\ Fairness

StateConstraint == \A w \in Workers : workers[w].cycle <= MaxCycle

-----------------------------------------------------------------------------
(* Properties: IDs and names as in spec/properties.json. *)

\* PS-1
NoOvercommit == \A b \in Buckets : Used(b) <= Capacity[b]

Places(m) == Commit(m) /\ placed' # placed

\* a proposal this step put in flight by Propose (only Propose makes a worker wait)
Sends(m) == /\ m \in DOMAIN to_broker'
            /\ m \notin DOMAIN to_broker \/ to_broker'[m] > to_broker[m]
            /\ ~workers[m.worker].waiting /\ workers'[m.worker].waiting

\* PS-2
CommitTimeConsistency ==
    [][/\ \A m \in DOMAIN to_broker' : Sends(m) =>
             \A x \in m.reads : x[2] = ViewEntry(workers[m.worker], x[1]).seq
       /\ \A m \in DOMAIN Pending : Places(m) => \A x \in m.reads : broker.seq[x[1]] = x[2]]_vars

\* PS-3
BoundedStaleness ==
    \A w \in Workers : workers[w].up =>
        \A p \in Partitions :
            \* the contract's Restart re-reads partitions one at a time: a partition
            \* it holds no snapshot of yet is allowed there (it cannot propose on it)
            IF workers[w].view[p] = <<>> THEN Contract
            ELSE workers[w].cycle - Last(workers[w].view[p]).read_at <= P - 1

\* PS-4
AttributionMirror ==
    \A n \in Needs, b \in Buckets : (b \in broker.ledger[n]) <=> (n \in broker.claims[b])

\* PS-5
SeqnoMonotonic ==
    [][\A b \in Buckets :
         broker'.seq[b] - broker.seq[b] = IF broker'.claims[b] # broker.claims[b] THEN 1 ELSE 0]_vars

\* (counted on the ghost sent, raised by Propose only, for the need in hand and
\* for every need set aside this cycle)
\* PS-6
RetryBudget ==
    \A w \in Workers : /\ workers[w].sent <= R + 1
                       /\ \A e \in workers[w].parked : e[4] <= R + 1

\* (pending: what the broker has received, its inbox under the contract)
\* PS-7
PriorityOnConflict ==
    [][\A m \in DOMAIN Pending : Places(m) =>
          ~\E o \in DOMAIN Pending : /\ o.priority > m.priority
                                    /\ Buckets_(o) \cap Buckets_(m) # {}]_vars

\* PS-8
AtMostOncePlacement == \A n \in Needs : placed[n] <= 1

\* PS-9
EpochFencing == [][\A m \in DOMAIN Pending : Places(m) => m.epoch = broker.epoch]_vars

\* PS-10
CarryForwardBound == \A w \in Workers, p \in Partitions : Len(workers[w].view[p]) <= 1

\* (the ghost reread: partitions a Conflict the worker took named, not read since)
\* PS-11
ReobserveAfterConflict ==
    [][\A m \in DOMAIN to_broker' : Sends(m) =>
          \A x \in m.reads : PartitionOf[x[1]] \notin workers[m.worker].reread]_vars

Idle(w) == ~workers[w].waiting /\ workers[w].pending = <<>>

\* PS-L1
PartitionRefresh ==
    \A w \in Workers, p \in Partitions :
        []<>(\/ ~workers[w].up
             \/ (workers[w].view[p] # <<>> /\ Last(workers[w].view[p]).read_at = workers[w].cycle))

\* PS-L2
CycleTermination ==
    \A w \in Workers, c \in Nat :
        (workers[w].up /\ workers[w].cycle = c)
            ~> (Idle(w) \/ ~workers[w].up \/ workers[w].cycle # c)

\* PS-L3
AdaptiveStability ==
    \A w \in Workers : <>[](workers[w].mode = LATENCY) \/ <>[](workers[w].mode = QUALITY)

THEOREM Spec => []TypeOK
=============================================================================
