from parsync.engines.checker import PASS, Checker
from parsync.model.presets import get_preset
from parsync.model.protocol import ParSyncModel


def test_small_preset_passes() -> None:
    r = Checker(ParSyncModel(get_preset("small").config)).run()
    assert r.verdict == PASS
    assert r.states > 1000
