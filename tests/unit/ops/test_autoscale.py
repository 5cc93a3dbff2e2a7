"""The autoscaler grows a falling-behind pool, waits for it to act, and shrinks an idle one."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from streamworks.core.errors import ConfigurationError
from streamworks.ops.autoscale import Autoscaler, Bounds, Sample, parse_autoscale


def test_parse_bounds_and_errors() -> None:
    assert parse_autoscale("validate=1:4, enrich=2:2", ["validate", "enrich"]) == {
        "validate": Bounds(1, 4),
        "enrich": Bounds(2, 2),
    }
    for bad in ("nope=1:2", "validate=4:1", "validate=0:2", "validate=1"):
        with pytest.raises(ConfigurationError):
            parse_autoscale(bad, ["validate"])


def test_bounds_are_capped_at_the_partitions() -> None:
    scaler = Autoscaler({"v": Bounds(1, 8)}, {"v": 3})
    assert scaler.bounds("v") == Bounds(1, 3)


def run(scaler: Autoscaler, size: int, samples: Sequence[tuple[float, int, float]]) -> list[int]:
    sizes = []
    for at, lag, lag_s in samples:
        size = scaler.decide("v", size, Sample(at, lag, lag_s))
        sizes.append(size)
    return sizes


def test_a_stage_falling_behind_grows_one_worker_per_cooldown_up_to_the_cap() -> None:
    scaler = Autoscaler({"v": Bounds(1, 3)}, {"v": 4}, behind_s=2, cooldown_s=10)
    growing = [(t, 1_000 * t, 1.0 * t) for t in range(0, 40, 2)]
    sizes = run(scaler, 1, growing)
    assert sizes[0] == 1  # too few samples for a trend, and not yet behind
    assert max(sizes) == 3
    changes = [i for i in range(1, len(sizes)) if sizes[i] != sizes[i - 1]]
    steps = [growing[i][0] for i in changes]
    assert all(b - a >= 10 for a, b in itertools.pairwise(steps))


def test_a_stage_catching_up_is_left_alone() -> None:
    scaler = Autoscaler({"v": Bounds(1, 4)}, {"v": 4}, behind_s=2, cooldown_s=0)
    draining = [(t, 10_000 - 1_000 * t, 8.0) for t in range(6)]
    assert run(scaler, 2, draining) == [2] * 6


def test_an_idle_stage_shrinks_one_step_per_idle_period_to_its_minimum() -> None:
    scaler = Autoscaler({"v": Bounds(1, 4)}, {"v": 4}, idle_s=20, cooldown_s=5)
    sizes = run(scaler, 3, [(float(t), 0, 0.0) for t in range(0, 100, 5)])
    assert sizes[:4] == [3, 3, 3, 3]  # idle for less than 20 s
    assert sizes[-1] == 1
    assert sorted(set(sizes), reverse=True) == [3, 2, 1]


def test_a_pool_outside_its_bounds_is_brought_back() -> None:
    scaler = Autoscaler({"v": Bounds(2, 3)}, {"v": 4})
    assert scaler.decide("v", 1, Sample(0, 0, 0)) == 2
    assert scaler.decide("v", 5, Sample(30, 0, 0)) == 3
