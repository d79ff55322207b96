"""Every bad input: exit code 2, one line naming the problem, nothing compiled or written."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from purejaxdqn import config as config_lib
from purejaxdqn import run

BASE = ["--total-steps", "400", "--eval-every", "200", "--quiet"]


@pytest.fixture
def no_training(monkeypatch):
    """Replaces the training stage: these tests stop at validation."""
    calls = []
    monkeypatch.setattr(run, "execute", lambda request: calls.append(request) or 0)
    return calls


def _main(argv, capsys):
    rc = run.main(argv)
    captured = capsys.readouterr()
    return rc, captured.err.strip().splitlines()


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


CASES = [
    # (argv, words the one-line message must contain)
    (["--env", "NoSuchEnv-v0"], ["env", "NoSuchEnv-v0"]),
    (["--no-such-field", "3"], ["unrecognized arguments", "--no-such-field"]),
    (["--lr", "abc"], ["--lr", "invalid float value", "abc"]),
    (["--hidden", "a,b"], ["--hidden", "comma-separated ints"]),
    (["--double-q", "maybe"], ["--double-q", "true or false"]),
    (["--capacity", "0"], ["capacity", "positive integer"]),
    (["--batch-size", "-4"], ["batch_size", "positive integer"]),
    (["--total-steps", "0"], ["total_steps", "positive integer"]),
    (["--capacity", "64", "--batch-size", "128"], ["batch_size (128)", "capacity (64)"]),
    (["--learning-starts", "16"], ["learning_starts (16)", "batch_size"]),
    (["--eps-start", "1.5"], ["eps_start", "[0, 1]"]),
    (["--eps-end", "-0.1"], ["eps_end", "[0, 1]"]),
    (["--gamma", "1.01"], ["gamma", "[0, 1]"]),
    (["--gamma", "nan"], ["gamma", "[0, 1]"]),
    (["--lr", "inf"], ["lr", "finite"]),
    (["--bins", "1"], ["bins", ">= 2"]),
    (["--bins", "5000"], ["cannot be discretized", "5000"]),
    (["--loss", "l1"], ["loss", "['huber', 'l2']", "'l1'"]),
    (["--q-network", "cnn"], ["q_network", "['per_action', 'state_action']"]),
    (["--optimizer", "sgd"], ["optimizer", "'rmsprop_torch'"]),
    (["--env", "CartPole-v1", "--conv", "16"], ["conv", "image observations"]),
    (["--env", "Breakout-MinAtar", "--conv", "8,8,8,8,8"], ["conv", "leave no pixels"]),
    (["--rms-momentum", "1"], ["rms_momentum", "[0, 1)"]),
    (["--seeds", "0"], ["seeds", ">= 1"]),
    (["--seeds", "x"], ["--seeds", "invalid int value"]),
    (["--checkpoint-every", "300"], ["checkpoint_every (300)", "eval_every"]),
    (["--config", "/no/such/config.json"], ["/no/such/config.json", "cannot read"]),
    (["--resume", "/no/such/run"], ["--resume /no/such/run", "not a run directory"]),
    (["--env-backend", "warp"], ["backend must be 'analytic' or 'mjx'", "'warp'"]),
    (["--env-kwargs", '{"colour": 1}'], ["env_kwargs {'colour': 1}", "'colour'"]),
    (["--env-kwargs", "[1]"], ["--env-kwargs", "expected a JSON object"]),
    (["--env", "CartPole-v1", "--env-backend", "mjx"], ["'CartPole-v1'", "'backend'"]),
]


@pytest.mark.parametrize("argv,words", CASES, ids=[" ".join(c[0]) for c in CASES])
def test_bad_input_is_one_line_and_writes_nothing(argv, words, tmp_path, capsys, no_training):
    out = tmp_path / "out"
    full = argv if argv[0] == "--resume" else [*BASE, *argv, "--out", str(out)]
    rc, lines = _main(full, capsys)
    assert rc == 2
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not out.exists() and not no_training


CONFIG_FILE_CASES = [
    ('{"hidden": "32"}', ["hidden", "list of positive integers"]),
    ('{"hidden": [32, 1.5]}', ["hidden"]),
    ('{"lr": "fast"}', ["lr", "must be a number"]),
    ('{"double_q": "yes"}', ["double_q", "true or false"]),
    ('{"num_envs": 2.5}', ["num_envs", "positive integer"]),
    ('{"colour": "red"}', ["unknown config field", "colour"]),
    ('{"env": 7}', ["env", "string"]),
    ('{"seeds": -1}', ["seeds", ">= 1"]),
    ("[1, 2]", ["expected a JSON object"]),
    ("{not json", ["cannot read a JSON config"]),
    ('{"q_network": []}', ["q_network", "[]"]),
    ('{"loss": {}}', ["loss", "{}"]),
]


@pytest.mark.parametrize(
    "text,words", CONFIG_FILE_CASES, ids=[getattr(c, "id", None) or c[0] for c in CONFIG_FILE_CASES]
)
def test_bad_config_file_is_one_line(text, words, tmp_path, capsys, no_training):
    path = _write(tmp_path, "config.json", text)
    out = tmp_path / "out"
    rc, lines = _main(["--config", path, "--out", str(out)], capsys)
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), lines
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not out.exists() and not no_training


def test_runs_that_do_not_fit_in_memory_are_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    argv = [*BASE, "--capacity", "50000000000", "--learning-starts", "200", "--out", str(out)]
    # about 2 TB per seed (and a run that would update: else that is refused first)
    rc, lines = _main(argv, capsys)
    assert rc == 2 and len(lines) == 1 and "does not fit in device memory" in lines[0], lines
    assert not out.exists()


def test_a_directory_holding_another_run_is_refused(tmp_path, capsys, no_training):
    out = tmp_path / "out"
    out.mkdir()
    other = {**config_lib.Config().to_dict(), "seeds": 3, "seed": 0}
    (out / "config.json").write_text(json.dumps(other))
    before = sorted(p.name for p in out.iterdir())
    rc, lines = _main([*BASE, "--seeds", "2", "--out", str(out)], capsys)
    assert rc == 2 and lines == [
        f"error: --out {out}: already holds a different run (its config.json)"
    ]
    assert sorted(p.name for p in out.iterdir()) == before and not no_training


def test_a_valid_command_line_reaches_training(tmp_path, capsys, no_training):
    rc, lines = _main([*BASE, "--out", str(tmp_path / "out"), "--checkpoint-every", "200"], capsys)
    assert rc == 0 and lines == []
    (request,) = no_training
    assert request.config.total_steps == 400 and request.checkpoint_every == 200
    assert request.seeds == 64 and not request.resume


# --- fuzz ----------------------------------------------------------------------------
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        ["huber", "mse", "l2", "mlp", "per_action", "adam", "rmsprop", "CartPole-v1", "brax:nope"]
        + ["1e-3"]
    ),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3))
_KEYS = st.one_of(
    st.sampled_from(config_lib.field_names() + ["seeds", "seed", "checkpoint_every"]),
    st.text(min_size=1, max_size=6),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.dictionaries(_KEYS, _VALUES, max_size=6))
def test_fuzz_config_files_run_or_exit_2_with_one_line(tmp_path, capsys, no_training, fields):
    """Random config files: the CLI either accepts them or exits 2 with a one-line message;
    it never raises (a traceback)."""
    text = json.dumps(fields, allow_nan=True)
    path = _write(tmp_path, "fuzz.json", text)
    out = tmp_path / "fuzz-out"
    no_training.clear()
    rc, lines = _main(["--config", path, "--out", str(out), "--quiet"], capsys)
    if rc == 0:
        assert no_training and lines == []
        cfg = no_training[0].config
        assert all(math.isfinite(getattr(cfg, n)) for n in ("lr", "gamma", "eps_start"))
    else:
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: "), (text, lines)
        assert not out.exists()


@pytest.mark.parametrize("algorithm", ["dqn", "pqn"])
def test_trainers_refuse_a_continuous_action_space_in_one_line(algorithm):
    from purejaxdqn import envs
    from purejaxdqn.algorithms import make_trainer

    env, params = envs.make("InvertedPendulum-v5")  # Box actions, not discretized
    sizes = {"eval_every": 4096, "total_steps": 8192} if algorithm == "pqn" else {}
    config = config_lib.Config(algorithm=algorithm, env="InvertedPendulum-v5", **sizes)
    with pytest.raises(config_lib.ConfigError) as e:
        make_trainer(config, env, params)
    assert str(e.value).startswith(f"{algorithm.upper()} needs a Discrete action space, got Box")
    assert "wrap with Discretize" in str(e.value) and "\n" not in str(e.value)
