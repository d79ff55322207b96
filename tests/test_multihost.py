"""One sweep on two processes joined by ``jax.distributed`` (coordinator on 127.0.0.1, Gloo
collectives on CPU): results equal to one process with as many devices; a process that dies
ends the other within a bounded time instead of a hang."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_run import CHAIN_FLAGS, TESTS_DIR, compilation_cache_env

from purejaxdqn.engine.loop import PAUSE_ENV
from purejaxdqn.rundir.checkpoint import FAULT_ENV

WORKER = str(TESTS_DIR / "multihost_worker.py")
ENV = "chain-multihost-test"
SWEEP = [*CHAIN_FLAGS, "--env", ENV, "--seeds", "2", "--grid", "lr=1e-3,3e-3"]
OUTPUTS = [f"points/{p:03d}/{name}" for p in (0, 1) for name in ("metrics.csv", "params.msgpack")]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> dict[str, str]:
    return compilation_cache_env(tmp_path_factory.mktemp("jax-cache"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(mode: str, args: list[str], env: dict[str, str]) -> subprocess.Popen:
    full = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
    full.pop(FAULT_ENV, None)
    return subprocess.Popen(
        [sys.executable, WORKER, mode, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
    )


def _pair(out: Path, env: dict[str, str]) -> list[subprocess.Popen]:
    coordinator = ["--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2"]
    args = [*SWEEP, "--out", str(out), *coordinator]
    return [_start("multi", [*args, "--process-id", str(i)], env) for i in (0, 1)]


def test_two_processes_give_the_single_process_sweep(tmp_path, cache):
    single = _start("single", [*SWEEP, "--out", str(tmp_path / "single")], cache)
    procs = _pair(tmp_path / "multi", cache)
    results = [p.communicate(timeout=600) for p in (single, *procs)]
    for p, (_, err) in zip((single, *procs), results, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert "on 2 cpu device(s), 2 processes" in results[1][1]
    for name in OUTPUTS:  # the same bytes: each device trains the same 2 runs either way
        got, ref = (tmp_path / "multi" / name), (tmp_path / "single" / name)
        assert got.read_bytes() == ref.read_bytes(), name
    assert (tmp_path / "multi" / "sweep_summary.json").is_file()


def test_a_dead_process_ends_the_other_with_one_line(tmp_path, cache):
    procs = _pair(tmp_path / "multi", {**cache, PAUSE_ENV: "1"})  # 1 s between chunks
    first, second = procs
    try:
        for p in procs:  # both training (not compiling: a lost exchange, not a heartbeat)
            assert p.stderr is not None
            seen = ""
            while "; training" not in seen:
                line = p.stderr.readline()
                assert line, seen + p.stderr.read()
                seen += line
        second.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        _, err = first.communicate(timeout=120)  # bounded: no hang
        waited = time.monotonic() - killed
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.communicate()
    # Our one line, exit 1: from the lost exchange, or from the watchdog that sees no
    # heartbeat of process 1 (it fires before JAX's own abort with a C++ stack).
    assert first.returncode == 1, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: distributed: process 0 lost "), err[-3000:]
    assert "Traceback" not in err and "another task died" not in err, err[-3000:]
    assert waited < 60
