"""The bad inputs that used to end in a traceback, and the first hour's friction (issue 14).

Each bad input: exit code 2, one line on stderr, nothing on stdout, nothing written. The
commands run in this process and stop where the engine would start (``Accepted``); the
evaluate cases roll out for real on fabricated run directories (no training).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import re
import shutil
import sys
import textwrap
import urllib.error

import numpy as np
import pytest
from tiny_run import fabricate_run, python

from purejaxdqn import envs, evaluate, run, sweep
from purejaxdqn.cli import flags, progress
from purejaxdqn.config import Config
from purejaxdqn.config_checks import derived_eval_every
from purejaxdqn.engine import engine
from purejaxdqn.envs.notes import quiet_third_party
from purejaxdqn.presets import PRESETS, preset
from purejaxdqn.rundir import files

TINY = ["--env", "CartPole-v1", "--total-steps", "400", "--hidden", "8", "--quiet"]
TINY_CONFIG = Config(
    env="CartPole-v1", total_steps=400, eval_every=200, hidden=(8,), capacity=256,
    batch_size=32, learning_starts=100,
)  # fmt: skip


class Accepted(Exception):  # noqa: N818 - a signal, not an error
    """Raised where the engine would start."""


@pytest.fixture
def stop_at_engine(monkeypatch):
    requests = []

    def execute(build, axis, **kwargs):
        requests.append(axis)
        raise Accepted

    monkeypatch.setattr(engine, "execute", execute)
    return requests


def call(main, argv):
    """``(rc, stdout, stderr lines)``; ``rc`` is ``"accepted"`` where the engine would start."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except Accepted:
            rc = "accepted"
    return rc, out.getvalue(), err.getvalue().strip().splitlines()


def assert_one_line(rc, stdout, lines, *words):
    assert rc == 2 and stdout == "", (rc, stdout, lines)
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], (word, lines[0])


# --- env names ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,words",
    [
        ("brax:", ["'brax:' needs a Brax env name", "inverted_pendulum"]),
        ("brax:nope", ["unknown Brax env 'brax:nope'", "Brax has:", "hopper"]),
        ("brax:hoper", ["did you mean brax:hopper?"]),
    ],
)
def test_unknown_or_empty_brax_names(name, words, tmp_path, stop_at_engine):
    rc, stdout, lines = call(run.main, [*TINY, "--env", name, "--out", str(tmp_path / "o")])
    assert_one_line(rc, stdout, lines, *words)  # and no MJX notes around it
    with pytest.raises(ValueError, match="Brax"):
        envs.make(name)
    assert not (tmp_path / "o").exists()


def test_unknown_env_names_get_did_you_mean(tmp_path, stop_at_engine):
    rc, stdout, lines = call(run.main, [*TINY, "--env", "cartpole-v1"])
    assert_one_line(rc, stdout, lines, "unknown env 'cartpole-v1'", "did you mean CartPole-v1?")
    assert len(lines[0]) < 250  # the closest names, not the ~1000-character list


def test_a_gymnax_env_that_needs_the_internet_is_one_line(monkeypatch, tmp_path, stop_at_engine):
    from gymnax.utils import load_mnist

    def offline(url, filename, directory="/tmp/mnist"):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(load_mnist, "_download", offline)
    rc, stdout, lines = call(
        run.main, [*TINY, "--env", "MNISTBandit-bsuite", "--out", str(tmp_path / "o")]
    )
    assert_one_line(rc, stdout, lines, "'MNISTBandit-bsuite'", "URLError", "internet")
    assert not (tmp_path / "o").exists()


def test_third_party_notes_are_dropped_and_the_rest_goes_to_stderr(capsys):
    with quiet_third_party():
        print("Failed to import warp: No module named 'warp'")
        print("Failed to import mujoco_warp: No module named 'warp'")
        print("something else")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "something else\n"


# --- paths ----------------------------------------------------------------------------------
def _out_cases(tmp_path):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return [
        (str(a_file / "run"), "is a file, not a folder"),
        ("/proc/purejaxdqn-run", "under /proc, a virtual file system"),
        ("/sys/purejaxdqn-run", "under /sys, a virtual file system"),
        ("", "--out must not be empty"),
        (str(tmp_path / ("x" * 300) / "run"), "not a usable path"),
    ]


@pytest.mark.parametrize("main", [run.main, sweep.main], ids=["run", "sweep"])
def test_out_paths_that_cannot_be_written(main, tmp_path, stop_at_engine):
    grid = ["--grid", "lr=1e-3,3e-3"] if main is sweep.main else []
    for out, words in _out_cases(tmp_path):
        before = sorted(tmp_path.iterdir())
        rc, stdout, lines = call(main, [*TINY, *grid, "--out", out])
        assert_one_line(rc, stdout, lines, words)
        assert sorted(tmp_path.iterdir()) == before
    assert not stop_at_engine


@pytest.mark.parametrize(
    "data,words",
    [
        (b'\xff\xfe{"lr": 1}', ["cannot read a JSON config", "utf-8"]),
        ('{"lr": 1e-3}'.encode("utf-16"), ["cannot read a JSON config"]),
        ('{"env": "CartPole-v1", "lr": 1e-3}'.encode("latin-1") + b"\xe9", ["cannot read"]),
    ],
    ids=["invalid-utf8", "utf16", "latin1"],
)
def test_config_files_that_are_not_utf8(data, words, tmp_path, stop_at_engine):
    path = tmp_path / "config.json"
    path.write_bytes(data)
    rc, stdout, lines = call(run.main, ["--config", str(path), "--out", str(tmp_path / "o")])
    assert_one_line(rc, stdout, lines, *words)
    rc, stdout, lines = call(run.main, ["--config", "/dev/zero"])  # would read forever
    assert_one_line(rc, stdout, lines, "not a regular file")


def test_an_out_holding_a_config_json_that_is_not_utf8(tmp_path, stop_at_engine):
    (tmp_path / "config.json").write_bytes(b"\xff\xfe{\x00}\x00")
    rc, stdout, lines = call(run.main, [*TINY, "--out", str(tmp_path)])
    assert_one_line(rc, stdout, lines, "already holds a different run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--max-memory-gb", "inf"], ["--max-memory-gb must be > 0 and finite, got inf"]),
        (["--seeds", "100", "--seed", "2147483600"], ["must be <= 2147483647"]),
        (["--seeds", "99999999999999999999"], ["must be <= 2147483647"]),
        (["--env-kwargs", '{"max_episode_steps": 0}', "--env", "InvertedPendulum-v5"],
         ["max_episode_steps must be >= 1"]),
        (["--env-kwargs", '{"reset_noise_scale": "x"}', "--env", "InvertedPendulum-v5"],
         ["reset_noise_scale must be a number >= 0"]),
    ],
)  # fmt: skip
def test_more_run_inputs_that_used_to_crash(argv, words, tmp_path, stop_at_engine):
    rc, stdout, lines = call(run.main, [*TINY, *argv, "--out", str(tmp_path / "o")])
    assert_one_line(rc, stdout, lines, *words)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "argv,words",
    [
        (["--random", "3", "--space", "lr=uniform:1e-4:1e-3", "--space-seed", "-1"],
         ["--space-seed must be >= 0"]),
        (["--random", "100000000", "--space", "lr=uniform:1e-4:1e-3"], ["at most 100,000"]),
        (["--grid", *(f"{n}={','.join(str(0.1 * i) for i in range(1, 12))}"
                      for n in ("gamma", "tau", "eps_end", "eps_start", "lr"))],
         ["--grid gives 161,051 points"]),
    ],
)  # fmt: skip
def test_more_sweep_inputs_that_used_to_crash(argv, words, tmp_path, stop_at_engine):
    rc, stdout, lines = call(sweep.main, [*TINY, *argv, "--out", str(tmp_path / "o")])
    assert_one_line(rc, stdout, lines, *words)
    assert not (tmp_path / "o").exists()


# --- evaluate -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fabricated(tmp_path_factory):
    base = tmp_path_factory.mktemp("evaluate")
    good, damaged, other = base / "good", base / "damaged", base / "other"
    fabricate_run(good, TINY_CONFIG)
    shutil.copytree(good, damaged)
    shutil.copytree(good, other)
    params = damaged / files.PARAMS_FILE
    params.write_bytes(params.read_bytes()[:-40])
    fabricate_run(base / "wider", TINY_CONFIG.replace(hidden=(16,)))
    (other / files.PARAMS_FILE).write_bytes((base / "wider" / files.PARAMS_FILE).read_bytes())
    return good, damaged, other


def test_evaluate_bad_inputs_are_one_line(fabricated):
    good, damaged, other = fabricated
    cases = [
        ([str(damaged)], ["damaged or not a params file"]),
        ([str(other)], ["do not fit the network of the run's config.json"]),
        ([str(good), "--env", "Acrobot-v1"], ["observations [6] do not match the [4]"]),
        ([str(good), "--env", "Pendulum-v1"], ["observations [3]"]),
        ([str(good), "--env", "MountainCar-v0"], ["observations [2]"]),
        ([str(good), "--env", "NoSuch-v0"], ["gymnasium cannot make 'NoSuch-v0'"]),
        ([str(good), "--episodes", "x"], ["argument --episodes: invalid int value: 'x'"]),
        ([], ["the following arguments are required: run_dir"]),
    ]
    for argv, words in cases:
        rc, stdout, lines = call(evaluate.main, argv)
        assert_one_line(rc, stdout, lines, *words)
    assert not (good / evaluate.EVALUATE_FILE).exists()


# --- a custom env from the command line -----------------------------------------------------
MODULE = '''
from purejaxdqn.envs.gymnax_env import GymnaxEnv


def cartpole(**kwargs):
    """My own JAX CartPole (here: gymnax's), built by name in any process."""
    return GymnaxEnv("CartPole-v1", **kwargs)


def broken(**kwargs):
    raise RuntimeError("boom")


NOT_CALLABLE = 3
'''


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    folder = tmp_path / "user_code"
    folder.mkdir()
    (folder / "my_envs.py").write_text(textwrap.dedent(MODULE))
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    sys.modules.pop("my_envs", None)


def test_env_module_factory_on_the_command_line(user_module, tmp_path, stop_at_engine):
    rc, _, lines = call(
        run.main, [*TINY, "--env", "my_envs:cartpole", "--out", str(tmp_path / "r")]
    )
    assert rc == "accepted" and lines == [], lines
    assert stop_at_engine[-1].configs[0].env == "my_envs:cartpole"
    grid = ["--grid", "lr=1e-3,3e-3", "--out", str(tmp_path / "s")]
    rc, _, lines = call(sweep.main, [*TINY, "--env", "my_envs:cartpole", *grid])
    assert rc == "accepted" and lines == [], lines
    for name, words in [
        ("my_envs:broken", ["could not be built (RuntimeError: boom)"]),
        ("my_envs:NOT_CALLABLE", ["NOT_CALLABLE is not callable"]),
        ("my_envs:nothing", ["has no attribute 'nothing'"]),
        ("no_such_module_x:make", ["cannot import no_such_module_x", "PYTHONPATH"]),
        ("os:getcwd", ["returned str, not an Environment"]),
    ]:
        assert_one_line(*call(run.main, [*TINY, "--env", name]), *words)


def test_evaluate_a_custom_env_run_in_a_fresh_process(user_module, tmp_path):
    run_dir = tmp_path / "run"
    fabricate_run(run_dir, TINY_CONFIG.replace(env="my_envs:cartpole"))
    rc, stdout, lines = call(evaluate.main, [str(run_dir), "--episodes", "1"])
    assert_one_line(rc, stdout, lines, "is not a gymnasium id: give --env the gymnasium env")
    sys.modules.pop("my_envs", None)
    pythonpath = os.pathsep.join([str(user_module), os.environ.get("PYTHONPATH", "")])
    proc = python(
        "-m", "purejaxdqn.evaluate", str(run_dir), "--episodes", "1", "--env", "CartPole-v1",
        env={"PYTHONPATH": pythonpath},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "CartPole-v1 in gymnasium" in proc.stdout
    assert (run_dir / evaluate.EVALUATE_FILE).is_file()


# --- first hour -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv,words",
    [
        (["--lr", "-1e-3"], ["lr must be > 0, got -0.001"]),
        (["--lr", "-inf"], ["lr must be > 0, got -inf"]),
        (["--v-min", "-1e3", "--v-max", "-2e3"], ["v_min (-1000.0) must be < v_max (-2000.0)"]),
        (["--gamma", "-.5"], ["gamma must be in [0, 1], got -0.5"]),
    ],
)
def test_negative_numbers_reach_validation(argv, words, stop_at_engine):
    assert_one_line(*call(run.main, [*TINY, *argv]), *words)


def test_negative_number_pattern():
    for text in ("-1", "-1.5", "-.5", "-1e-3", "-2E+4", "-inf", "-Infinity", "-nan"):
        assert flags.NEGATIVE_NUMBER.match(text), text
    for text in ("-x", "--lr", "-1e", "-e3", "-", "-1-2"):
        assert not flags.NEGATIVE_NUMBER.match(text), text


def _best_eval_every_brute_force(total, num_envs, ref_total, ref_every):
    """The documented rule, by enumerating every eval_every (not every evaluation count)."""
    if total % ref_every == 0:
        return ref_every
    target = ref_total // ref_every
    options = [e for e in range(num_envs, total + 1, num_envs) if total % e == 0]
    return min(options, key=lambda e: (abs(math.log(total / e / target)), total / e))


@pytest.mark.parametrize("env", sorted(PRESETS))
def test_total_steps_alone_works_for_every_preset(env):
    p = {**Config().to_dict(), **PRESETS[env]}
    for total in (30_000, 12_000, 4_000 * p["num_envs"] + 4 * p["num_envs"], 100_000):
        args = flags_for(["--env", env, "--total-steps", str(total)])
        config = flags.config_from_args(args)[0]
        assert config.total_steps % config.eval_every == 0
        expected = _best_eval_every_brute_force(
            total, p["num_envs"], p["total_steps"], p["eval_every"]
        )
        assert config.eval_every == expected, (env, total)
        assert preset(env, total_steps=total).eval_every == expected
    # Documented examples (README): CartPole and MinAtar at 30k steps, the pendulum kept.
    documented = {"CartPole-v1": 3_000, "Breakout-MinAtar": 600, "InvertedPendulum-v5": 5_000}
    if env in documented:
        args = flags_for(["--env", env, "--total-steps", "30000"])
        assert flags.config_from_args(args)[0].eval_every == documented[env]


def test_an_explicit_eval_every_is_never_changed(stop_at_engine):
    argv = ["--env", "CartPole-v1", "--total-steps", "30000", "--eval-every", "20000"]
    assert_one_line(*call(run.main, argv), "total_steps (30000) must be a multiple of eval_every")
    assert derived_eval_every("x", 4, 100, 10) == 10  # left to validation


def flags_for(argv):
    parser = flags.OneLineArgumentParser(prog="prog")
    flags.add_config_flags(parser)
    return parser.parse_args(argv)


@pytest.mark.parametrize("module", [run, sweep, evaluate], ids=["run", "sweep", "evaluate"])
def test_every_help_entry_states_one_default(module):
    parser = module.build_parser()
    text = parser.format_help()
    assert "(default: None)" not in text and "(default: False)" not in text
    entries = [e.split("\n\n")[0] for e in re.split(r"\n  (?=-)", text)][1:]
    for entry in entries:
        assert entry.count("default") <= 1, entry
    for action in parser._actions:  # an option with a real default says it once
        if action.option_strings and action.default not in (None, False, "==SUPPRESS=="):
            entry = next(e for e in entries if e.startswith(action.option_strings[0]))
            assert entry.count("(default") == 1, entry


def test_the_progress_bar_counts_every_group():
    err = io.StringIO()
    bar = progress.Progress(total_steps=100, seeds=6)
    with contextlib.redirect_stderr(err):
        bar.begin("group 1/2", reports=3, done_steps=0)
        for _ in range(3):
            bar(np.asarray(50), np.asarray(1.0))
        first = err.getvalue()
        bar.finish()
        bar.begin("group 2/2", reports=3, done_steps=0)
        for _ in range(3):
            bar(np.asarray(50), np.asarray(1.0))
        second = err.getvalue()[len(first) :].split("\r")[-1]
        bar.finish()
    assert "[" + "#" * 7 + "-" * 23 + "]" in first and " 25% of 6 runs" in first
    assert "[" + "#" * 22 + "-" * 8 + "]" in second and " 75% of 6 runs" in second
    assert err.getvalue().count("\n") == 1 and err.getvalue().endswith("\n")  # one line
