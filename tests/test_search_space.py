"""Tests for purejaxdqn.search_space: grid and random specs, their errors, point configs."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from purejaxdqn import search_space
from purejaxdqn.config import Config, ConfigError
from purejaxdqn.search_space import SweepError


def _args(grid=None, random=None, space=None, space_seed=0) -> argparse.Namespace:
    return argparse.Namespace(grid=grid, random=random, space=space, space_seed=space_seed)


def test_grid_is_the_cartesian_product():
    dims = search_space.parse_grid(
        ["lr=1e-4,3e-4,1e-3", "gamma=0.99,0.995", "exploration-steps=500"]
    )
    points = search_space.grid_points(dims)
    assert len(points) == 6
    assert points[0] == {"lr": 1e-4, "gamma": 0.99, "exploration_steps": 500.0}
    assert points[1] == {"lr": 1e-4, "gamma": 0.995, "exploration_steps": 500.0}
    assert {(p["lr"], p["gamma"]) for p in points} == {
        (lr, g) for lr in (1e-4, 3e-4, 1e-3) for g in (0.99, 0.995)
    }
    assert [d.kind for d in dims] == ["grid"] * 3
    assert dims[0].log_scale and not dims[1].log_scale


def test_random_points_are_reproducible_and_in_range():
    dims = search_space.parse_space(
        ["lr=loguniform:1e-5:1e-2", "tau=uniform:0.001:0.1", "eps_end=choice:0.01,0.05"]
    )
    assert [(d.kind, d.values) for d in dims] == [
        ("loguniform", (1e-5, 1e-2)),
        ("uniform", (0.001, 0.1)),
        ("choice", (0.01, 0.05)),
    ]
    points = search_space.random_points(dims, 200, seed=3)
    assert points == search_space.random_points(dims, 200, seed=3)
    assert points != search_space.random_points(dims, 200, seed=4)
    lr = np.array([p["lr"] for p in points])
    tau = np.array([p["tau"] for p in points])
    assert np.all((lr >= 1e-5) & (lr <= 1e-2)) and np.all((tau >= 0.001) & (tau <= 0.1))
    assert {p["eps_end"] for p in points} == {0.01, 0.05}
    # Log-uniform: each decade of the three gets about a third of the draws.
    decades = np.histogram(np.log10(lr), bins=[-5, -4, -3, -2])[0]
    assert np.all(decades > 40), decades


def test_random_points_are_numpy_draws_in_dimension_order():
    dims = search_space.parse_space(["tau=uniform:0.1:0.2", "lr=loguniform:1e-4:1e-2"])
    points = search_space.random_points(dims, 5, seed=7)
    rng = np.random.default_rng(7)
    tau = rng.uniform(0.1, 0.2, 5)
    lr = np.exp(rng.uniform(np.log(1e-4), np.log(1e-2), 5))
    assert [p["tau"] for p in points] == tau.tolist()
    np.testing.assert_allclose([p["lr"] for p in points], lr, rtol=1e-15)


@pytest.mark.parametrize(
    "items, message",
    [
        (["nonsense=1,2"], "unknown field 'nonsense'"),
        (["hidden=32,64"], "hidden is a static field"),
        (["capacity=1000,2000"], "capacity is a static field"),
        (["lr="], "lr: empty value"),
        (["lr=1e-3,"], "lr: empty value"),
        (["lr=abc"], "lr: 'abc' is not a number"),
        (["lr=inf"], "lr: 'inf' is not a finite number"),
        (["lr=1e-3,1e-3"], "lr: repeated value"),
        (["lr"], "expected name=values"),
        (["lr=1e-3", "lr=1e-2"], "lr is given more than once"),
        ([], "no field to sweep"),
    ],
)
def test_bad_grid(items, message):
    with pytest.raises(SweepError) as info:
        search_space.parse_grid(items)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    "items, message",
    [
        (["lr=normal:1:2"], "unknown distribution 'normal'"),
        (["lr=uniform:1e-2:1e-3"], "lo < hi"),
        (["lr=loguniform:0:1e-3"], "lo > 0"),
        (["lr=uniform:1e-3"], "expected uniform:lo:hi"),
        (["lr=uniform:1e-3:"], "expected uniform:lo:hi"),
        (["num_envs=choice:4,8"], "num_envs is a static field"),
    ],
)
def test_bad_space(items, message):
    with pytest.raises(SweepError) as info:
        search_space.parse_space(items)
    assert message in str(info.value)


def test_sweep_error_is_a_config_error():
    assert issubclass(SweepError, ConfigError)
    assert search_space.DISTRIBUTIONS == ("loguniform", "uniform", "choice")


def test_point_configs_validate_each_point():
    base = Config()
    configs = search_space.point_configs(base, [{"lr": 1e-3}, {"gamma": 0.9, "tau": 0.5}])
    assert configs == [base.replace(lr=1e-3), base.replace(gamma=0.9, tau=0.5)]
    with pytest.raises(SweepError, match=r"sweep point 1 \(gamma=1.5\): gamma must be in \[0, 1\]"):
        search_space.point_configs(base, [{"gamma": 0.9}, {"gamma": 1.5}])


def test_parse_sweep():
    dims, points = search_space.parse_sweep(_args(grid=["lr=1e-3,3e-2", "gamma=0.9"]))
    assert [d.name for d in dims] == ["lr", "gamma"]
    assert points == [{"lr": 1e-3, "gamma": 0.9}, {"lr": 3e-2, "gamma": 0.9}]
    args = _args(random=4, space=["lr=uniform:0.1:0.2"], space_seed=5)
    dims, points = search_space.parse_sweep(args)
    assert points == search_space.random_points(dims, 4, seed=5)


@pytest.mark.parametrize(
    "args, message",
    [
        (_args(), "give --grid"),
        (_args(grid=["lr=1e-3"], space=["lr=uniform:0.1:0.2"]), "--space goes with --random"),
        (_args(random=4), "--random needs --space"),
        (_args(random=0, space=["lr=uniform:0.1:0.2"]), "--random must be >= 1"),
    ],
)
def test_bad_sweep_flags(args, message):
    with pytest.raises(SweepError, match=message):
        search_space.parse_sweep(args)
