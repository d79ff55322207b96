"""The command lines' CPU devices (one per core) and the unrolled threefry lowering."""

from __future__ import annotations

import json
import textwrap

import pytest
from tiny_run import python, tiny_pendulum_args

from purejaxdqn.cli import cpu_devices
from purejaxdqn.config import ConfigError


def test_parse():
    assert cpu_devices.parse("auto") is None and cpu_devices.parse(" AUTO ") is None
    assert cpu_devices.parse("3") == 3
    for bad in ("0", "-2", "two", ""):
        with pytest.raises(ConfigError, match="--cpu-devices must be 'auto' or an integer"):
            cpu_devices.parse(bad)


def test_checkpoint_devices_reads_the_latest_checkpoint(tmp_path):
    assert cpu_devices.checkpoint_devices(tmp_path) is None  # no checkpoints/
    root = tmp_path / "checkpoints"
    for name, devices in (("g0000-p000001", 1), ("g0000-p000002", 3)):
        (root / name).mkdir(parents=True)
        meta = {"layout": {"devices": devices, "groups": 1, "runs_per_group": 3}}
        (root / name / "meta.json").write_text(json.dumps(meta))
    assert cpu_devices.checkpoint_devices(tmp_path) == 3
    (root / "g0000-p000003").mkdir()
    (root / "g0000-p000003" / "meta.json").write_text("{}")  # an older format: no layout
    assert cpu_devices.checkpoint_devices(tmp_path) is None


def _devices_line(stderr: str) -> str:
    (line,) = [ln for ln in stderr.splitlines() if ln.startswith("compiling ")]
    return line


def test_command_line_shards_over_cpu_devices_and_never_pads_one_seed(tmp_path):
    def run(name: str, *flags: str, env: dict[str, str] | None = None):
        out = str(tmp_path / name)
        args = [*tiny_pendulum_args(400), "--quiet", *flags, "--out", out]
        return python("-m", "purejaxdqn.run", *args, env=env)

    two = run("a", "--cpu-devices", "2")
    assert two.returncode == 0, two.stderr[-2000:]
    assert "compiling 2 runs per call on 2 cpu device(s)" in _devices_line(two.stderr)
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["devices"] == 2
    # One seed on a host split in two: one device, not the seed trained twice.
    one = run("b", "--seeds", "1", env={"PUREJAXDQN_CPU_DEVICES": "2"})
    assert one.returncode == 0, one.stderr[-2000:]
    assert "compiling 1 runs per call on 1 cpu device(s)" in _devices_line(one.stderr)
    # The user's XLA_FLAGS win over --cpu-devices (what the command line calls, in a fresh
    # process: no training run needed).
    flags = {"XLA_FLAGS": "--xla_force_host_platform_device_count=1"}
    code = "from purejaxdqn.cli import cpu_devices as c; r = c.configure('2'); import jax; "
    own = python("-c", code + "print(r, jax.device_count())", env=flags)
    assert own.returncode == 0 and own.stdout.split() == ["None", "1"], own.stderr[-2000:]
    bad = run("d", "--cpu-devices", "0")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "error: --cpu-devices must be 'auto' or an integer >= 1, got '0'"
    ]


_THREEFRY_CHECK = textwrap.dedent(
    """
    import json
    import jax, jax.numpy as jnp
    from purejaxdqn import threefry_cpu

    def draws(key):
        a, b = jax.random.split(jax.random.fold_in(key, 7))
        return (
            jax.random.uniform(a, (33,)),
            jax.random.randint(b, (5, 128), 0, 10_000),
            jax.random.normal(jax.random.fold_in(a, 3), (17, 3)),
            jax.random.permutation(b, 100),
            jax.random.bits(a, (9,), jnp.uint32),
        )

    f = jax.vmap(draws)
    keys = jax.vmap(jax.random.key)(jnp.arange(4))
    hlo = lambda: jax.jit(f).lower(keys).compile().as_text()
    rolled_hlo = hlo()
    rolled = jax.tree.map(lambda x: x.tobytes().hex(), jax.device_get(jax.jit(f)(keys)))
    assert threefry_cpu.use_unrolled() and threefry_cpu.use_unrolled()
    jax.clear_caches()
    unrolled_hlo = hlo()
    unrolled = jax.tree.map(lambda x: x.tobytes().hex(), jax.device_get(jax.jit(f)(keys)))
    print(json.dumps({
        "same": rolled == unrolled,
        "rolled_while": rolled_hlo.count(" while("),
        "unrolled_while": unrolled_hlo.count(" while("),
    }))
    """
)


def test_unrolled_threefry_gives_the_same_bits_without_the_loop():
    proc = python("-c", _THREEFRY_CHECK, env={"JAX_PLATFORMS": "cpu"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["same"], "the unrolled lowering changed random bits"
    assert got["rolled_while"] > 0 and got["unrolled_while"] < got["rolled_while"]


def test_unrolled_threefry_can_be_declined():
    code = "from purejaxdqn import threefry_cpu; print(threefry_cpu.use_unrolled())"
    proc = python("-c", code, env={"PUREJAXDQN_ROLLED_THREEFRY": "1"})
    assert proc.returncode == 0 and proc.stdout.strip() == "False", proc.stderr[-2000:]
