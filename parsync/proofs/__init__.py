"""Z3 engines for the ParSync model (ADR-0031).

* ``encoding``  - the transition relation in Z3, one encoding per action, with
  the known-bad variants as switches; read parametrically or in one scope;
* ``logic``     - sorts, quantifiers and functions for both readings;
* ``concrete``  - one concrete scope: constants, the abstraction function
  between Python states and symbolic values, decoding of actions;
* ``proofs``    - goals, lemmas, obligations: inductive proofs of PS-1..PS-10
  for every size, counterexamples to induction decoded and re-checked;
* ``witness``   - concrete transitions per sub-action (non-vacuity);
* ``bmc``       - bounded model checking from Init, replayed in the model;
* ``report``    - the proof report (docs/proofs.md) and its source hash.
"""
