"""A fuzz test of the three commands: generated command lines and config files from the
``Config`` schema (edge numbers, wrong types, odd paths, odd encodings) end with exit 0 or 2,
never a traceback, and with nothing written on exit 2.

The commands' ``main`` functions run in this process (stdout and stderr captured,
``SystemExit`` caught), not one subprocess per example. A command line that passes
validation is stopped where the engine would start (:func:`purejaxdqn.engine.engine.execute`
is replaced by a function raising :class:`Accepted`): everything the command checks before
compiling has run by then, and what comes after (sizing with ``eval_shape``, compiling,
training) is tested elsewhere on purpose-built tiny runs (tests/test_validation.py,
tests/test_cli.py). Most generated inputs are invalid, since that is where tracebacks hide;
``evaluate`` rolls out for real on a fabricated two-seed CartPole run (no training), with at
most 2 episodes. Hypothesis is derandomized with no example database, so CI sees the same
examples on every run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import shutil
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tiny_run import fabricate_run

from purejaxdqn import config as config_lib
from purejaxdqn import evaluate, run, sweep
from purejaxdqn.cli import flags
from purejaxdqn.config import Config
from purejaxdqn.engine import engine
from purejaxdqn.rundir import files

SETTINGS = dict(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Accepted(Exception):  # noqa: N818 - a signal, not an error
    """Raised where the engine would start: the command line passed validation."""


@pytest.fixture
def stop_at_engine(monkeypatch):
    def execute(*args, **kwargs):
        raise Accepted

    monkeypatch.setattr(engine, "execute", execute)


# --- values ---------------------------------------------------------------------------------
_EDGE_NUMBERS = [
    "0", "1", "-1", "2", "3", "4", "7", "64", "200", "400", "1000", "2147483647",
    "2147483648", "9223372036854775808", "1e5", "0.5", "-0.0", "1e-300", "1e308", "1e999",
    "nan", "-nan", "inf", "-inf", "Infinity", "-1e-3", "-.5", "0x10", "1_000", " 8 ", "1,2",
]  # fmt: skip
_WRONG = ["", " ", "abc", "true", "no", "[1, 2]", "{}", '{"backend": "mjx"}', "None", "é", "🙂"]
_ENVS = [
    "CartPole-v1", "InvertedPendulum-v5", "cartpole-v1", "NoSuchEnv-v0", "brax:", "brax:nope",
    "no_such_module:factory", "os:getcwd", ":", "a:", "Breakout-MinAtar",
]  # fmt: skip
_TEXT = st.text(alphabet=string.printable + "é🙂\u202e", max_size=12)
VALUES = st.one_of(
    st.sampled_from(_EDGE_NUMBERS + _WRONG + _ENVS), _TEXT.filter(lambda t: "\x00" not in t)
)
_INTS = ["0", "1", "-1", "2", "4", "8", "32", "100", "200", "400", "1000", "2147483648",
         "9223372036854775808", "1e3", " 8 "]  # fmt: skip
_FLOATS = ["0", "1", "-1", "0.5", "0.99", "1.0000001", "-1e-3", "-.5", "1e-300", "1e308",
           "1e999", "nan", "inf", "-inf", "-0.0", "Infinity"]  # fmt: skip
_BOOLS = ["true", "false", "1", "0", "yes", "maybe", ""]
_WIDTHS = ["8", "8,8", "0", "-1", "", "8,a", "99999999999999999999", "1,2,3,4,5,6,7,8"]
_KWARGS = ["{}", '{"backend": "mjx"}', '{"x": 1}', "[1]", "nan", '{"max_episode_steps": 0}',
           '{"reset_noise_scale": -1}', '{"unroll": "x"}', '{"backend": null}']  # fmt: skip
_STRINGS = {
    "env": _ENVS,
    "env_kwargs": _KWARGS,
    "q_network": ["per_action", "state_action", "mlp", "cnn", ""],
    "loss": ["huber", "l2", "mse", "l1"],
    "optimizer": ["adam", "rmsprop", "rmsprop_torch", "sgd"],
    "replay_obs_dtype": ["float32", "uint8", "bool", "bfloat16", "int8"],
}
RUN_FLAGS = {
    "--seeds": _INTS,
    "--seed": _INTS,
    "--checkpoint-every": _INTS,
    "--max-memory-gb": _FLOATS,
    "--env-backend": ["mjx", "analytic", "generalized", "", "warp"],
}
BOGUS_FLAGS = ["--no-such-flag", "-x", "--lr=", "--", "-1", "--seeds=-1"]


def _field_values(name: str) -> list[str]:
    field = {f.name: f for f in dataclasses.fields(Config)}[name]
    kind = flags.field_type(field)
    if name in _STRINGS:
        return _STRINGS[name]
    if kind is flags.parse_widths:
        return _WIDTHS
    if kind is flags.parse_bool:
        return _BOOLS
    return _FLOATS if kind is float else _INTS


FLAG_VALUES = {
    **{"--" + f.replace("_", "-"): _field_values(f) for f in config_lib.field_names()},
    **RUN_FLAGS,
}


@st.composite
def flag_and_value(draw) -> list[str]:
    """A flag with a value of its type at an edge (mostly), or any value, or a bogus flag."""
    flag = draw(st.sampled_from([*FLAG_VALUES, *BOGUS_FLAGS]))
    if flag in BOGUS_FLAGS:
        return [flag]
    typed = st.sampled_from(FLAG_VALUES[flag])
    return [flag, draw(typed if draw(st.integers(0, 4)) else VALUES)]


def odd_paths(base: Path) -> st.SearchStrategy[str]:
    """Paths to write under or read: most of them unusable."""
    a_file = base / "a-file"
    return st.sampled_from(
        [
            str(base / "out"),
            str(base / "new" / "deeper" / "out"),
            str(a_file),
            str(a_file / "below"),
            "/proc/purejaxdqn-out",
            "/sys/purejaxdqn-out",
            "/dev/null",
            "",
            " ",
            str(base / ("x" * 300)),
            str(base / "é 🙂 out"),
            str(base),
        ]
    )


# --- config files ---------------------------------------------------------------------------
_JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    _TEXT,
    st.sampled_from(_ENVS + ["huber", "l2", "mlp", "rmsprop_torch", "uint8"]),
)
_JSON_EDGES = st.one_of(
    st.sampled_from([0, 1, -1, 2, 4, 8, 100, 200, 400, 2**31, 2**63, 0.5, 1e-300, 1e308, -0.0]),
    st.sampled_from([True, False, None, [], [8], [8, 8], [0], {}, {"backend": "mjx"}]),
)
_JSON_VALUES = st.one_of(_JSON_EDGES, _JSON_SCALARS, st.lists(_JSON_SCALARS, max_size=3))
_JSON_KEYS = st.one_of(
    st.sampled_from([*config_lib.field_names(), "seeds", "seed", "checkpoint_every"]),
    st.text(max_size=6),
)
_ENCODINGS = ["utf-8", "utf-8-sig", "utf-16", "latin-1", "bytes"]


@st.composite
def config_file_bytes(draw) -> bytes:
    """A config file: JSON of schema fields with odd values, in an odd encoding, or junk."""
    fields = draw(st.dictionaries(_JSON_KEYS, _JSON_VALUES, max_size=5))
    text = json.dumps(fields, allow_nan=True, ensure_ascii=draw(st.booleans()))
    encoding = draw(st.sampled_from(_ENCODINGS))
    if encoding == "bytes":
        return draw(st.binary(max_size=40))
    try:
        return text.encode(encoding)
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


# --- running a command ----------------------------------------------------------------------
def _tree(base: Path) -> dict[str, bytes | None]:
    """Every path under ``base`` with its bytes (``None`` for folders)."""
    out: dict[str, bytes | None] = {}
    for root, dirs, names in os.walk(base):
        for d in dirs:
            out[os.path.join(root, d)] = None
        for n in names:
            p = os.path.join(root, n)
            out[p] = Path(p).read_bytes() if os.path.isfile(p) else None
    return out


def _call(main, argv: list[str], base: Path) -> tuple[object, str, str]:
    before = _tree(base)
    out, err = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    os.chdir(base)  # a relative --out lands here, where the test can see it
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc: object = main(argv)
            except Accepted:
                rc = "accepted"
            except SystemExit as e:  # --help
                rc = e.code
    finally:
        os.chdir(cwd)
    stdout, stderr = out.getvalue(), err.getvalue()
    if os.environ.get("FUZZ_LOG"):
        with open(os.environ["FUZZ_LOG"], "a") as f:
            f.write(f"{rc}\t{argv}\t{stderr.strip()[:150]}\n")
    if rc == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (argv, stderr)
        assert stdout == "", (argv, stdout)
        assert _tree(base) == before, (argv, "wrote files on exit 2")
    else:
        assert rc in (0, "accepted"), (argv, rc, stderr)
        assert "Traceback" not in stderr, (argv, stderr)
    return rc, stdout, stderr


def _workdir() -> tempfile.TemporaryDirectory:
    return tempfile.TemporaryDirectory(prefix="fuzz-cli-")


def _setup(base: Path, config_bytes: bytes) -> None:
    (base / "a-file").write_text("not a folder\n")
    (base / "config.json").write_bytes(config_bytes)  # what --config and --resume read
    (base / "sweep.json").write_bytes(config_bytes)


@st.composite
def run_argv(draw, base: Path, sweep_flags: bool = False) -> list[str]:
    argv: list[str] = ["--quiet"]
    if draw(st.integers(0, 7)) == 0:  # a resume: the work dir holds the fuzzed files
        argv += ["--resume", draw(odd_paths(base))]
        return argv + (draw(flag_and_value()) if draw(st.integers(0, 3)) == 0 else [])
    if draw(st.integers(0, 3)):  # mostly a tiny valid base that the odd flags then break
        argv += ["--env", "CartPole-v1", "--total-steps", "400", "--hidden", "8"]
    for _ in range(draw(st.integers(0, 3))):
        argv += draw(flag_and_value())
    if draw(st.integers(0, 3)) == 0:
        argv += ["--config", draw(st.sampled_from([str(base / "config.json"), "/dev/zero", ""]))]
    if draw(st.integers(0, 15)) == 0:
        argv += ["--resume", draw(odd_paths(base))]
    argv += ["--out", draw(odd_paths(base))] if draw(st.integers(0, 3)) else []
    if sweep_flags:
        names = st.sampled_from([*config_lib.traced_field_names()[:4], "hidden", "env", "x", ""])
        values = st.one_of(st.sampled_from(_FLOATS), VALUES)
        item = st.builds(lambda n, v: f"{n}={v}", names, values)
        how = draw(st.integers(0, 4))
        if how in (0, 3):
            argv += ["--grid", *draw(st.lists(item, min_size=1, max_size=3))]
        elif how == 1:
            argv += ["--random", draw(st.sampled_from(["1", "2", "0", "-1", "x", "1000000"]))]
            dist = st.sampled_from(["uniform:0:1", "loguniform:1e-4:1e-2", "choice:1,2", "x:1"])
            argv += ["--space", *draw(st.lists(st.builds(lambda n, d: f"{n}={d}", names, dist),
                                               min_size=1, max_size=2))]  # fmt: skip
        if draw(st.booleans()):
            argv += ["--space-seed", draw(VALUES)]
    return argv


@settings(max_examples=250, **SETTINGS)
@given(data=st.data(), config_bytes=config_file_bytes())
def test_fuzz_run_exits_0_or_2_and_writes_nothing_on_2(data, config_bytes, stop_at_engine):
    with _workdir() as tmp:
        base = Path(tmp)
        _setup(base, config_bytes)
        _call(run.main, data.draw(run_argv(base)), base)


@settings(max_examples=150, **SETTINGS)
@given(data=st.data(), config_bytes=config_file_bytes())
def test_fuzz_sweep_exits_0_or_2_and_writes_nothing_on_2(data, config_bytes, stop_at_engine):
    with _workdir() as tmp:
        base = Path(tmp)
        _setup(base, config_bytes)
        _call(sweep.main, data.draw(run_argv(base, sweep_flags=True)), base)


# --- evaluate on fabricated run directories -------------------------------------------------
TINY = dict(env="CartPole-v1", total_steps=400, eval_every=200, hidden=(8,), capacity=256,
            batch_size=32, learning_starts=100)  # fmt: skip


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("fabricated")
    dirs = {name: base / name for name in ("good", "damaged", "other_net", "not_utf8")}
    fabricate_run(dirs["good"], Config(**TINY))
    for name in ("damaged", "other_net", "not_utf8"):
        shutil.copytree(dirs["good"], dirs[name])
    params = dirs["damaged"] / files.PARAMS_FILE
    params.write_bytes(params.read_bytes()[: len(params.read_bytes()) // 2])
    other = base / "wider"
    fabricate_run(other, Config(**{**TINY, "hidden": (16,)}))
    (dirs["other_net"] / files.PARAMS_FILE).write_bytes((other / files.PARAMS_FILE).read_bytes())
    (dirs["not_utf8"] / files.CONFIG_FILE).write_bytes(b'{"env": "\xff\xfe"}')
    return dirs


@settings(max_examples=50, **SETTINGS)
@given(data=st.data())
def test_fuzz_evaluate_exits_0_or_2(data, run_dirs):
    with _workdir() as tmp:
        base = Path(tmp)
        _setup(base, b"{}")
        paths = [str(p) for p in run_dirs.values()]
        argv = [data.draw(st.one_of(st.sampled_from(paths), odd_paths(base)))]
        if data.draw(st.booleans()):
            argv += ["--episodes", data.draw(st.sampled_from(["1", "2", "0", "-1", "x", "1e3"]))]
        if data.draw(st.booleans()):
            envs = ["CartPole-v1", "Acrobot-v1", "Pendulum-v1", "NoSuch-v0", "", "brax:ant"]
            argv += ["--env", data.draw(st.sampled_from(envs))]
        argv = data.draw(st.permutations(argv)) if data.draw(st.booleans()) else argv
        _call(evaluate.main, argv, base)
