"""Config (the model's CONSTANTS): validation, TOML loading and the dict round trip.

Every invalid Config raises ConfigError with one line naming the offending
field; a config file's problems are reported with the file's path.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from parsync.model.config import (
    STRATEGIES,
    Config,
    ConfigError,
    Faults,
    Need,
    config_from_dict,
    load_config,
)
from parsync.model.presets import PRESETS


def make(**kw: Any) -> Config:
    """A small valid Config, with ``kw`` overriding fields."""
    base: dict[str, Any] = {
        "workers": 2,
        "partitions": 2,
        "capacities": (1, 1),
        "needs": (Need(owner=0), Need(owner=1, priority=2), Need(owner=0, gang=2, arrival=2)),
    }
    base.update(kw)
    return Config(**base)


def assert_config_error(match: str, **kw: Any) -> str:
    with pytest.raises(ConfigError) as ei:
        make(**kw)
    msg = str(ei.value)
    assert match in msg, msg
    assert "\n" not in msg, "a ConfigError is one line"
    return msg


# --- valid configs --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_valid(name: str) -> None:
    cfg = PRESETS[name].config
    assert cfg.workers >= 1 and cfg.partitions >= 1
    assert config_from_dict(cfg.to_dict()) == cfg


def test_valid_config_and_derived_constants() -> None:
    cfg = make(capacities=(1, 2, 3), partition_map=(1, 0, 1), strategy="latency-first")
    assert cfg.buckets == 3
    assert [cfg.partition_of(b) for b in range(3)] == [1, 0, 1]
    assert cfg.members(0) == (1,)
    assert cfg.members(1) == (0, 2)
    assert cfg.eligible(0) == (0, 1, 2)
    assert "W=2 P=2 B=3" in cfg.describe()
    assert "strategy=latency-first" in cfg.describe()


def test_default_partition_map_is_bucket_mod_p() -> None:
    cfg = make(capacities=(1, 1, 1, 1))
    assert [cfg.partition_of(b) for b in range(4)] == [0, 1, 0, 1]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_is_accepted(strategy: str) -> None:
    assert make(strategy=strategy).strategy == strategy


def test_boundary_values_are_valid() -> None:
    cfg = make(
        workers=1,
        partitions=1,
        capacities=(0,),
        needs=(Need(owner=0, priority=0, eligible=(0,)),),
        retry_budget=0,
        max_cycle=1,
        faults=Faults(0, 0, 0, 0),
    )
    assert cfg.buckets == 1


def test_gang_as_large_as_its_eligible_set_is_valid() -> None:
    cfg = make(capacities=(1, 1, 1), needs=(Need(owner=0, gang=2, eligible=(0, 2)),))
    assert cfg.eligible(0) == (0, 2)


# --- invalid configs: one line naming the field ---------------------------------------------------


def test_partitions_below_one() -> None:
    assert_config_error("partitions must be >= 1", partitions=0)


def test_workers_below_one() -> None:
    assert_config_error("workers must be >= 1", workers=0)


def test_negative_worker_count_names_the_value() -> None:
    msg = assert_config_error("workers", workers=-3)
    assert "-3" in msg


def test_need_owned_by_missing_worker() -> None:
    msg = assert_config_error("needs[1]", needs=(Need(owner=0), Need(owner=2)))
    assert "worker 2" in msg and "does not exist" in msg


def test_need_owned_by_negative_worker() -> None:
    assert_config_error("needs[0] is owned by worker -1", needs=(Need(owner=-1),))


def test_gang_naming_unknown_bucket() -> None:
    msg = assert_config_error(
        "needs[0] names unknown bucket 5", needs=(Need(owner=0, gang=2, eligible=(0, 5)),)
    )
    assert "0..1" in msg


def test_gang_larger_than_its_eligible_set() -> None:
    msg = assert_config_error("needs[0]", needs=(Need(owner=0, gang=3, eligible=(0, 1)),))
    assert "gang of 3" in msg and "only 2 are eligible" in msg


def test_gang_larger_than_all_buckets() -> None:
    assert_config_error("gang of 3", needs=(Need(owner=0, gang=3),))


def test_duplicate_eligible_bucket() -> None:
    assert_config_error(
        "needs[0].eligible lists a bucket twice", needs=(Need(owner=0, eligible=(1, 1)),)
    )


def test_bad_strategy() -> None:
    msg = assert_config_error("strategy must be one of", strategy="fastest-first")
    assert "'fastest-first'" in msg
    for s in STRATEGIES:
        assert s in msg


@pytest.mark.parametrize("fault", ["crash", "drop", "duplicate", "failover"])
def test_negative_fault_bound(fault: str) -> None:
    msg = assert_config_error(f"faults.{fault}", faults=Faults(**{fault: -1}))
    assert ">= 0" in msg


def test_partition_map_wrong_length() -> None:
    msg = assert_config_error("partition_map has 3 entries", partition_map=(0, 1, 0))
    assert "2 buckets" in msg


def test_partition_map_out_of_range() -> None:
    assert_config_error("partition_map[1] = 2", partition_map=(0, 2))
    assert_config_error("partition_map[0] = -1", partition_map=(-1, 0))


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("workers", {"workers": True}),
        ("partitions", {"partitions": False}),
        ("capacities[1]", {"capacities": (1, True)}),
        ("retry_budget", {"retry_budget": True}),
        ("max_cycle", {"max_cycle": True}),
        ("faults.drop", {"faults": Faults(drop=True)}),
        ("needs[0].owner", {"needs": (Need(owner=True),)}),
        ("needs[0].priority", {"needs": (Need(owner=0, priority=True),)}),
        ("needs[0].gang", {"needs": (Need(owner=0, gang=True),)}),
        ("partition_map[0]", {"partition_map": (True, 0)}),
    ],
)
def test_bool_where_int_expected(field: str, kw: dict[str, Any]) -> None:
    msg = assert_config_error(field, **kw)
    assert "True" in msg or "False" in msg


@pytest.mark.parametrize(
    ("field", "kw"),
    [
        ("workers", {"workers": 2.0}),
        ("capacities[0]", {"capacities": ("1", 1)}),
        ("needs[0].size", {"needs": (Need(owner=0, size=1.5),)}),
    ],
)
def test_non_integer_where_int_expected(field: str, kw: dict[str, Any]) -> None:
    assert_config_error(f"{field} must be an integer", **kw)


@pytest.mark.parametrize(
    ("match", "kw"),
    [
        ("capacities must be a non-empty list", {"capacities": ()}),
        ("capacities[0] must be >= 0", {"capacities": (-1, 1)}),
        ("needs must list at least one need", {"needs": ()}),
        ("retry_budget must be >= 0", {"retry_budget": -1}),
        ("max_cycle must be >= 1", {"max_cycle": 0}),
        ("needs[0].arrival must be >= 1", {"needs": (Need(owner=0, arrival=0),)}),
        ("needs[0].size must be >= 1", {"needs": (Need(owner=0, size=0),)}),
        ("needs[0].gang must be >= 1", {"needs": (Need(owner=0, gang=0),)}),
        ("needs[0].priority must be >= 0", {"needs": (Need(owner=0, priority=-1),)}),
    ],
)
def test_other_invalid_fields(match: str, kw: dict[str, Any]) -> None:
    assert_config_error(match, **kw)


def test_config_is_frozen() -> None:
    cfg = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.workers = 3  # type: ignore[misc]


# --- config_from_dict / to_dict -------------------------------------------------------------------


def test_to_dict_round_trips_through_config_from_dict() -> None:
    cfg = make(
        capacities=(1, 2, 1),
        partition_map=(0, 1, 1),
        needs=(
            Need(owner=0, priority=3, arrival=2, gang=2, size=1, eligible=(0, 2)),
            Need(owner=1, size=2),
        ),
        retry_budget=2,
        strategy="latency-first",
        max_cycle=4,
        faults=Faults(crash=1, drop=2, duplicate=3, failover=1),
    )
    d = cfg.to_dict()
    assert d["partition_map"] == [0, 1, 1]
    assert d["needs"][0]["eligible"] == [0, 2]
    assert "eligible" not in d["needs"][1]
    back = config_from_dict(d)
    assert back == cfg
    assert back.to_dict() == d


def test_config_from_dict_defaults() -> None:
    cfg = config_from_dict(
        {"workers": 1, "partitions": 1, "capacities": [1], "needs": [{"owner": 0}]}
    )
    assert cfg.needs == (Need(owner=0),)
    assert (cfg.retry_budget, cfg.strategy, cfg.max_cycle) == (1, "quality-first", 3)
    assert cfg.faults == Faults()
    assert cfg.partition_map is None


BASE: dict[str, Any] = {"workers": 1, "partitions": 1, "capacities": [1], "needs": [{"owner": 0}]}


@pytest.mark.parametrize(
    ("match", "changes"),
    [
        ("unknown config field(s): colour", {"colour": 1}),
        ("missing required config field 'needs'", {"needs": None}),
        ("missing required config field 'workers'", {"workers": None}),
        ("needs must be a list of tables", {"needs": {"owner": 0}}),
        ("needs[0] must be a table", {"needs": [3]}),
        ("needs[0] has unknown field(s): weight", {"needs": [{"owner": 0, "weight": 1}]}),
        ("needs[0] is missing 'owner'", {"needs": [{"priority": 1}]}),
        ("needs[0].eligible must be a list", {"needs": [{"owner": 0, "eligible": 0}]}),
        ("faults must be a table", {"faults": 1}),
        ("faults has unknown field(s): flood", {"faults": {"flood": 1}}),
        ("capacities must be a list of integers", {"capacities": 3}),
        ("partition_map must be a list", {"partition_map": "0"}),
    ],
)
def test_config_from_dict_errors(match: str, changes: dict[str, Any]) -> None:
    d = {**BASE, **changes}
    d = {k: v for k, v in d.items() if v is not None}
    with pytest.raises(ConfigError, match="^" + re.escape(match)):
        config_from_dict(d)


def test_config_from_dict_rejects_non_table() -> None:
    with pytest.raises(ConfigError, match="a config must be a table"):
        config_from_dict([1, 2])


# --- TOML -----------------------------------------------------------------------------------------

FULL_TOML = """\
# a scope with every field
workers = 2
partitions = 2
capacities = [1, 2, 1]
partition_map = [0, 1, 1]
retry_budget = 2
strategy = "adaptive"
max_cycle = 3

[faults]
crash = 1
drop = 1
duplicate = 0
failover = 1

[[needs]]
owner = 0
priority = 1
arrival = 1

[[needs]]
owner = 1
priority = 2
arrival = 2
gang = 2
size = 1
eligible = [0, 1]
"""


def write(tmp_path: Path, text: str, name: str = "scope.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_full_toml_loads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, FULL_TOML))
    assert cfg == Config(
        workers=2,
        partitions=2,
        capacities=(1, 2, 1),
        partition_map=(0, 1, 1),
        retry_budget=2,
        strategy="adaptive",
        max_cycle=3,
        faults=Faults(crash=1, drop=1, duplicate=0, failover=1),
        needs=(
            Need(owner=0, priority=1, arrival=1),
            Need(owner=1, priority=2, arrival=2, gang=2, size=1, eligible=(0, 1)),
        ),
    )


def test_load_config_accepts_str_path(tmp_path: Path) -> None:
    assert load_config(str(write(tmp_path, FULL_TOML))).workers == 2


def toml_of(cfg: Config) -> str:
    """A minimal TOML writer for Config.to_dict() (ints, strings, int lists, tables)."""

    def val(v: Any) -> str:
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, list):
            return "[" + ", ".join(str(x) for x in v) + "]"
        return str(v)

    d = cfg.to_dict()
    lines = [f"{k} = {val(v)}" for k, v in d.items() if k not in ("faults", "needs")]
    lines.append("[faults]")
    lines += [f"{k} = {val(v)}" for k, v in d["faults"].items()]
    for n in d["needs"]:
        lines.append("[[needs]]")
        lines += [f"{k} = {val(v)}" for k, v in n.items()]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_round_trips_through_a_toml_file(tmp_path: Path, name: str) -> None:
    cfg = PRESETS[name].config
    assert load_config(write(tmp_path, toml_of(cfg))) == cfg


def test_toml_unknown_key_names_key_and_path(tmp_path: Path) -> None:
    p = write(tmp_path, FULL_TOML.replace("max_cycle = 3", "max_cycle = 3\nmax_cycles = 4"))
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert str(p) in msg and "unknown config field(s): max_cycles" in msg


def test_toml_unknown_need_key(tmp_path: Path) -> None:
    p = write(tmp_path, FULL_TOML.replace("size = 1", "sizes = 1"))
    with pytest.raises(ConfigError, match="needs\\[1\\] has unknown field\\(s\\): sizes") as ei:
        load_config(p)
    assert str(p) in str(ei.value)


def test_toml_missing_required_key(tmp_path: Path) -> None:
    p = write(tmp_path, FULL_TOML.replace("capacities = [1, 2, 1]\n", ""))
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert str(p) in msg and "missing required config field 'capacities'" in msg


def test_toml_invalid_content_names_field_and_path(tmp_path: Path) -> None:
    p = write(tmp_path, FULL_TOML.replace("owner = 1", "owner = 7"))
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}: ")
    assert "needs[1] is owned by worker 7" in msg


def test_toml_bool_where_int_expected(tmp_path: Path) -> None:
    p = write(tmp_path, FULL_TOML.replace("workers = 2", "workers = true"))
    with pytest.raises(ConfigError, match="workers must be an integer, got True"):
        load_config(p)


def test_toml_wrong_types_are_config_errors(tmp_path: Path) -> None:
    for old, new, field in [
        ("capacities = [1, 2, 1]", 'capacities = "1,2,1"', "capacities"),
        ("eligible = [0, 1]", 'eligible = ["a"]', "needs[1]"),
        ('strategy = "adaptive"', "strategy = 3", "strategy"),
        ("crash = 1", 'crash = "1"', "faults.crash"),
        ("[faults]\ncrash = 1\ndrop = 1\nduplicate = 0\nfailover = 1\n", "faults = 1\n", "faults"),
    ]:
        p = write(tmp_path, FULL_TOML.replace(old, new))
        with pytest.raises(ConfigError) as ei:
            load_config(p)
        assert field in str(ei.value) and str(p) in str(ei.value), (new, str(ei.value))


def test_malformed_toml(tmp_path: Path) -> None:
    p = write(tmp_path, "workers = \n")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert str(p) in msg and "not valid TOML" in msg and "line 1" in msg
    assert "\n" not in msg


def test_unreadable_path(tmp_path: Path) -> None:
    p = tmp_path / "missing.toml"
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert str(p) in msg and "cannot read config" in msg


def test_directory_is_not_a_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    p = tmp_path / "latin1.toml"
    p.write_bytes(b"workers = 2 # caf\xe9\n")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    msg = str(ei.value)
    assert str(p) in msg and "UTF-8" in msg
