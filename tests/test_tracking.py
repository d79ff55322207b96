"""``--log tensorboard,wandb``: what the backends wrote, read back with their own readers
(TensorBoard's event accumulator; W&B's offline ``.wandb`` log decoded with W&B's protobuf
schema), equals ``metrics.csv`` read with the csv module."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import struct
import sys
from pathlib import Path

import numpy as np
import pytest
from chain_env import Chain
from scipy import stats as scipy_stats
from tiny_run import CHAIN_FLAGS

from purejaxdqn import envs, run, sweep, tracking
from purejaxdqn.config import ConfigError
from purejaxdqn.tracking import base

pytest.importorskip("tensorboardX")
pytest.importorskip("wandb")
event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")

ENV = "chain-track"
SEEDS = 3
FLAGS = ["--env", ENV, *CHAIN_FLAGS, "--seeds", str(SEEDS), "--log", "tensorboard,wandb"]
COLUMNS = ("eval_return", "train_return", "loss", "q_mean", "epsilon")


@pytest.fixture(scope="module", autouse=True)
def chain_registered():
    try:
        envs.register(ENV, Chain)
    except ValueError:  # registered by an earlier module in this process
        pass


@pytest.fixture(scope="module")
def offline_wandb():
    """No W&B login anywhere: no key, no mode, a netrc that does not exist."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_PROJECT"):
            mp.delenv(name, raising=False)
        mp.setenv("NETRC", "/nonexistent/netrc")
        mp.setenv("WANDB_SILENT", "true")
        yield


def _main(command, argv):
    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        code = command.main(argv)
    assert code == 0, err.getvalue()
    return err.getvalue()


@pytest.fixture(scope="module")
def logged_run(tmp_path_factory, offline_wandb):
    """A run with both backends and a checkpoint per eval period, so rows arrive per segment;
    the tracker's calls are recorded (the original is called through)."""
    out = tmp_path_factory.mktemp("track") / "run"
    calls = []
    original = base.Tracker.__call__

    def recording(self, runs, rows):
        calls.append((np.asarray(runs).tolist(), np.asarray(rows["env_steps"]).tolist()))
        return original(self, runs, rows)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(base.Tracker, "__call__", recording)
        err = _main(run, [*FLAGS, "--checkpoint-every", "200", "--out", str(out)])
    return out, err, calls


def read_csv(path: Path) -> dict[int, dict[str, list[float]]]:
    """seed -> column -> values in file order (csv module, no project code)."""
    out: dict[int, dict[str, list[float]]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            seed = out.setdefault(int(row["seed"]), {})
            for k, v in row.items():
                seed.setdefault(k, []).append(float(v))
    return out


def tb_scalars(logdir: Path) -> dict[str, tuple[list[int], list[float]]]:
    acc = event_accumulator.EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    acc.Reload()
    return {
        tag: ([e.step for e in acc.Scalars(tag)], [e.value for e in acc.Scalars(tag)])
        for tag in acc.Tags()["scalars"]
    }


def same_f32(a, b) -> bool:
    return np.array_equal(np.float32(a), np.float32(b), equal_nan=True)


def check_tensorboard_equals_csv(run_dir: Path, seeds: int) -> None:
    table = read_csv(run_dir / "metrics.csv")
    assert sorted(p.name for p in (run_dir / "tb").iterdir()) == sorted(
        ["iqm", *(f"seed_{k}" for k in range(seeds))]
    )
    for k in range(seeds):
        scalars = tb_scalars(run_dir / "tb" / f"seed_{k}")
        for column in COLUMNS:
            steps, values = scalars[column]
            assert steps == [int(s) for s in table[k]["env_steps"]]
            assert same_f32(values, table[k][column]), (k, column)


def test_tensorboard_scalars_equal_metrics_csv(logged_run):
    out, _, _ = logged_run
    check_tensorboard_equals_csv(out, SEEDS)


def test_tensorboard_iqm_run_holds_the_iqm_and_its_band(logged_run):
    out, _, _ = logged_run
    table = read_csv(out / "metrics.csv")
    returns = np.array([table[k]["eval_return"] for k in range(SEEDS)])  # [S, T]
    scalars = tb_scalars(out / "tb" / "iqm")
    steps, center = scalars["eval_return"]
    assert steps == [int(s) for s in table[0]["env_steps"]]
    assert same_f32(center, scipy_stats.trim_mean(returns, 0.25, axis=0))
    _, low = scalars["eval_return_ci95_low"]
    _, high = scalars["eval_return_ci95_high"]
    assert np.all(np.float32(low) <= np.float32(center))
    assert np.all(np.float32(center) <= np.float32(high))
    assert np.all(np.float32(low) >= returns.min(0).astype(np.float32))
    assert np.all(np.float32(high) <= returns.max(0).astype(np.float32))
    rate_steps, rates = scalars["env_steps_per_second"]
    assert rate_steps == steps[1:] and all(r > 0 for r in rates)  # not at the start row


def test_tensorboard_hparams_hold_the_config(logged_run):
    from tensorboard.plugins.hparams import plugin_data_pb2

    out, _, _ = logged_run
    config = json.loads((out / "config.json").read_text())
    acc = event_accumulator.EventAccumulator(str(out / "tb" / "seed_1"))
    acc.Reload()
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    data = plugin_data_pb2.HParamsPluginData.FromString(content)
    hp = data.session_start_info.hparams
    assert hp["lr"].number_value == config["lr"]
    assert hp["env"].string_value == ENV
    assert hp["seed_index"].number_value == 1


def test_rows_reach_the_tracker_after_every_segment(logged_run):
    """One call at the start and one per segment (live), never the whole run at the end."""
    _, _, calls = logged_run
    assert calls == [(list(range(SEEDS)), [[s] for _ in range(SEEDS)]) for s in (0, 200, 400)]


def wandb_records(path: Path):
    """The records of a ``.wandb`` file: W&B's LevelDB-style log (7-byte file header, 32 KiB
    blocks, records ``crc32 u32, length u16, type u8``: full 1, first 2, middle 3, last 4)."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, block, parts = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if kind == 0:
            pos += left
            continue
        payload, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        parts = payload if kind in (1, 2) else parts + payload
        if kind in (1, 4):
            yield wandb_internal_pb2.Record.FromString(parts)


def wandb_runs(root: Path) -> dict[str, dict]:
    """display name -> group, job type, config and history (key -> (steps, values))."""
    runs = {}
    for path in root.glob("wandb/offline-run-*/run-*.wandb"):
        info: dict = {"history": {}}
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                info["group"], info["job_type"] = record.run.run_group, record.run.job_type
                update = record.run.config.update
                info["config"] = {i.key: json.loads(i.value_json) for i in update}
                name = record.run.display_name
            elif kind == "history":
                items = {
                    i.key or "/".join(i.nested_key): json.loads(i.value_json)
                    for i in record.history.item
                }
                for key, value in items.items():
                    steps, values = info["history"].setdefault(key, ([], []))
                    steps.append(items["_step"])
                    values.append(float("nan") if value in ("NaN", None) else value)
        runs[name] = info
    return runs


def check_wandb_equals_csv(run_dir: Path, group: str, prefix: str, seeds: int) -> dict:
    table = read_csv(run_dir / "metrics.csv")
    config = json.loads((run_dir / "config.json").read_text())
    runs = wandb_runs(run_dir)
    names = ["iqm", *(f"seed_{k}" for k in range(seeds))]
    assert sorted(runs) == sorted(f"{group}/{prefix}{n}" for n in names)
    for k in range(seeds):
        info = runs[f"{group}/{prefix}seed_{k}"]
        assert (info["group"], info["job_type"]) == (group, "seed")
        assert info["config"]["lr"] == config["lr"] and info["config"]["seed_index"] == k
        for column in COLUMNS:
            steps, values = info["history"][column]
            assert steps == [int(s) for s in table[k]["env_steps"]]
            assert same_f32(values, table[k][column]), (k, column)
    return runs


def test_wandb_offline_runs_equal_metrics_csv(logged_run):
    out, err, _ = logged_run
    runs = check_wandb_equals_csv(out, out.name, "", SEEDS)
    iqm_run = runs[f"{out.name}/iqm"]
    assert iqm_run["job_type"] == "iqm"
    table = read_csv(out / "metrics.csv")
    returns = np.array([table[k]["eval_return"] for k in range(SEEDS)])
    assert same_f32(
        iqm_run["history"]["eval_return_iqm"][1], scipy_stats.trim_mean(returns, 0.25, axis=0)
    )
    assert f"wandb sync {out}/wandb/offline-run-*" in err


def test_sweep_logs_one_entry_per_point_and_seed(tmp_path, offline_wandb):
    out = tmp_path / "sweep"
    _main(sweep, [*FLAGS[:-4], "--seeds", "2", *FLAGS[-2:], "--grid", "lr=1e-3,3e-2",
                  "--out", str(out)])  # fmt: skip
    for p in range(2):
        point = out / "points" / f"{p:03d}"
        check_tensorboard_equals_csv(point, 2)
        runs = check_wandb_equals_csv(point, out.name, f"p{p:03d}/", 2)
        assert runs[f"{out.name}/p{p:03d}/seed_0"]["config"]["sweep_point"] == p


def test_unknown_or_missing_backend_is_one_line_exit_2(tmp_path, monkeypatch, capsys):
    with pytest.raises(ConfigError, match="unknown backend"):
        tracking.parse_log("tensorboard,mlflow")
    assert tracking.parse_log(" TensorBoard ,tensorboard") == ("tensorboard",)
    monkeypatch.setitem(sys.modules, "wandb", None)  # as if not installed
    code = run.main([*FLAGS[:-1], "wandb", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "pip install 'purejaxdqn[logging]'" in err
    assert not (tmp_path / "r").exists()
