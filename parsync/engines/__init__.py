"""The engines that explore :mod:`parsync.model`: the explicit-state checker and its
symmetry reduction, liveness on the state graph, the Hypothesis stateful engine and
the simulation. Each is built apart from the model (it takes a model value), so an
engine can be added without touching ``model/``."""
