----------------------------- MODULE MCParSync -----------------------------
(* The "small" preset (model/presets.py) as TLC constants; tests/test_tla.py *)
(* checks these values against the preset.                                  *)
EXTENDS ParSync

MCCapacity == <<1, 1>>                       \* buckets 0 and 1 (see below)
MCCapacityFn == [b \in 0 .. 1 |-> MCCapacity[b + 1]]
MCPartitionOf == [b \in 0 .. 1 |-> b % 2]
\* n0: worker 0, low priority; n1: worker 1, high priority (competes with n0);
\* n2: worker 0, a gang over both buckets, arrives in cycle 2
MCOwner == [n \in 0 .. 2 |-> IF n = 1 THEN 1 ELSE 0]
MCPriority == [n \in 0 .. 2 |-> IF n = 1 THEN 2 ELSE 1]
MCArrival == [n \in 0 .. 2 |-> IF n = 2 THEN 2 ELSE 1]
MCGang == [n \in 0 .. 2 |-> IF n = 2 THEN 2 ELSE 1]
MCSize == [n \in 0 .. 2 |-> 1]
MCEligible == [n \in 0 .. 2 |-> 0 .. 1]
=============================================================================
