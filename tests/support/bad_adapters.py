"""Adapters that misbehave in each way the suite must report in one line."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tests.support.model_adapter import ModelAdapter


def raising() -> Any:
    raise ValueError("cannot start")


class _Incomplete:
    def reset(self, config: Mapping[str, Any]) -> None:
        pass


def incomplete() -> Any:
    return _Incomplete()


class _Hanging(ModelAdapter):
    def start_cycle(self, worker: int) -> None:
        time.sleep(3600)


def hanging() -> Any:
    return _Hanging()


class _StepRaises(ModelAdapter):
    def start_cycle(self, worker: int) -> None:
        raise RuntimeError("boom")


def step_raises() -> Any:
    return _StepRaises()


class _BadShape(ModelAdapter):
    def observe(self) -> Mapping[str, Any]:
        obs = dict(super().observe())
        obs["broker"] = dict(obs["broker"], seq=7)
        return obs


def bad_shape() -> Any:
    return _BadShape()
