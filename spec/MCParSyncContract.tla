------------------------- MODULE MCParSyncContract -------------------------
(* The "small" preset under the contract policy: the constants of          *)
(* MCParSync, with Policy = "contract" in MCParSyncContract.cfg. No        *)
(* timeouts and no extra reads (MaxTimeout = MaxExtraRead = 0), as         *)
(* `parsync check --policy contract` runs small.                           *)
EXTENDS MCParSync
=============================================================================
