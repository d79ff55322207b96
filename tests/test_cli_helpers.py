"""Tests for purejaxdqn.cli: flags and the config they give, progress line, printout."""

from __future__ import annotations

import argparse
import dataclasses
import io
import math
import re

import numpy as np
import pytest

from purejaxdqn.cli import flags, progress, table
from purejaxdqn.config import Config, ConfigError


def _parser() -> flags.OneLineArgumentParser:
    parser = flags.OneLineArgumentParser(prog="prog")
    flags.add_config_flags(parser)
    return parser


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------


def test_help_shows_each_default_once():
    text = _parser().format_help()
    assert "(default: None)" not in text and "(default: False)" not in text
    # An entry ends at the next flag or at the blank line before a group's title.
    entries = [e.split("\n\n")[0] for e in re.split(r"\n  (?=-)", text)]
    for entry in entries:
        assert entry.count("(default") <= 1, entry
    for f in dataclasses.fields(Config):
        [entry] = [e for e in entries if e.startswith("--" + f.name.replace("_", "-") + " ")]
        assert entry.count("(default") == 1, entry


def test_flags_parse_into_the_config():
    args = _parser().parse_args(
        ["--env", "CartPole-v1", "--hidden", "32, 32", "--lr", "1e-3", "--double-q", "yes"]
    )
    config, seeds, seed, every = flags.config_from_args(args)
    assert (seeds, seed, every) == (64, 0, None)
    assert config.env == "CartPole-v1" and config.hidden == (32, 32)
    assert config.lr == 1e-3 and config.double_q is True


def test_bad_flags_raise_one_line_errors():
    with pytest.raises(flags.UsageError, match="invalid int value"):
        _parser().parse_args(["--seeds", "x"])
    with pytest.raises(flags.UsageError, match="expected true or false"):
        _parser().parse_args(["--double-q", "maybe"])
    with pytest.raises(flags.UsageError, match="expected comma-separated ints"):
        _parser().parse_args(["--hidden", "8,a"])
    with pytest.raises(ConfigError, match="seeds must be an integer >= 1"):
        flags.config_from_args(_parser().parse_args(["--seeds", "0"]))
    args = _parser().parse_args(["--total-steps", "1000", "--eval-every", "100"])
    args.checkpoint_every = 150
    with pytest.raises(ConfigError, match="must be a multiple of eval_every"):
        flags.config_from_args(args)


def test_flag_parsers():
    assert flags.parse_widths("64, 64,") == (64, 64)
    assert flags.parse_bool("On") is True and flags.parse_bool("0") is False
    assert flags.parse_json_object('{"backend": "mjx"}') == {"backend": "mjx"}
    with pytest.raises(argparse.ArgumentTypeError):
        flags.parse_json_object("[1]")


# --------------------------------------------------------------------------------------------
# Progress
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label", ["", "group 2/3"])
def test_progress_line_after_all_seeds(monkeypatch, label):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    bar = progress.Progress(total_steps=100, seeds=4, label=label)
    returns = [1.0, 2.0, 3.0, 100.0]
    for r in returns[:3]:
        bar(np.asarray(50), np.asarray(r))
    assert err.getvalue() == ""  # not every seed has reported yet
    bar(np.asarray(50), np.asarray(returns[3]))
    line = err.getvalue()
    expected_iqm = np.sort(returns)[1:3].mean()  # the middle half of 4 seeds
    assert f"eval IQM {expected_iqm:8.2f}" in line
    assert line.startswith("\r" + (label + " " if label else "") + "[" + "#" * 15 + "-" * 15 + "]")
    assert " 50/100 steps/seed" in line
    assert bar.done_steps == 50


# --------------------------------------------------------------------------------------------
# Printout
# --------------------------------------------------------------------------------------------


def test_format_table():
    text = table.format_table([("env", "CartPole-v1"), ("final IQM", "500.0"), ("x", "")])
    assert text.splitlines() == ["env        CartPole-v1", "final IQM  500.0", "x"]
    assert table.format_table([]) == ""


def test_fmt_float():
    assert table.fmt_float(None) == "n/a"
    assert table.fmt_float(float("nan")) == "nan"
    assert table.fmt_float(np.float32(np.nan), "8.2f") == "nan"
    assert table.fmt_float(math.inf, ",.0f") == "inf"
    assert table.fmt_float(-np.inf) == "-inf"
    assert table.fmt_float(np.float64(1234.56), ",.0f") == "1,235"
    assert table.fmt_float(2.25) == format(2.25, ".1f")


def test_fmt_ci():
    assert table.fmt_ci((1.25, 3.0)) == "95% CI 1.2 .. 3.0"  # format(1.25, ".1f") == "1.2"
    assert table.fmt_ci([np.float64(-1.0), 2.0], spec=".2f") == "95% CI -1.00 .. 2.00"
    for missing in (None, [None, None], (float("nan"), 1.0), (0.0, math.inf)):
        assert table.fmt_ci(missing) == "no CI: a final return is not finite"
