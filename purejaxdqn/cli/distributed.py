r"""Several processes training one sweep: ``jax.distributed`` from the command line.

Start the same command on every process with the coordinator's address, the number of
processes and each one's id::

    python -m purejaxdqn.sweep ... --out runs/s --coordinator 10.0.0.1:1234 \
        --num-processes 2 --process-id 0      # on host 0 (it writes the files)
    python -m purejaxdqn.sweep ... --out runs/s --coordinator 10.0.0.1:1234 \
        --num-processes 2 --process-id 1      # on host 1

(``--distributed`` instead takes all three from a cluster's environment, e.g. SLURM.) The
engine shards the run axis over every process's devices; process 0 writes the run
directory. On CPU the processes exchange results through Gloo. If a process dies, the others
stop with one line (exit 1) instead of waiting: a peer's closed connection ends the next
exchange at once, and a watchdog thread (:func:`start_watchdog`) that sees no heartbeat of a
peer in the coordinator's key-value store for :data:`WATCHDOG_SECONDS` ends a process that is
not exchanging (e.g. compiling, or waiting in a gather). It fires well before JAX's own
:data:`HEARTBEAT_SECONDS`, after which JAX would abort with a C++ stack.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TypeVar

from purejaxdqn.config import ConfigError

#: Seconds without a heartbeat after which a process counts as dead.
HEARTBEAT_SECONDS = 20
#: Seconds ``initialize`` waits for every process to connect.
CONNECT_SECONDS = 120
#: Seconds without a peer's heartbeat (one a second) after which a process stops with one
#: line; under :data:`HEARTBEAT_SECONDS`, so it comes before JAX's abort.
WATCHDOG_SECONDS = 10.0
_ALIVE = "purejaxdqn/alive/"

T = TypeVar("T")


def add_flags(p: argparse.ArgumentParser) -> None:
    """``--coordinator``, ``--num-processes``, ``--process-id`` (and ``--distributed``)."""
    g = p.add_argument_group("several processes (see purejaxdqn.cli.distributed)")
    g.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address")
    g.add_argument("--num-processes", type=int, metavar="N", help="processes in all")
    g.add_argument("--process-id", type=int, metavar="I", help="this process, 0..N-1")
    g.add_argument(
        "--distributed",
        action="store_true",
        help="call jax.distributed.initialize() with the cluster's settings (SLURM, ...)",
    )


def initialize(args: argparse.Namespace) -> None:
    """Joins the processes named by the flags (nothing if none is given).

    Raises:
      ConfigError: incomplete or bad flags, or a coordinator that cannot be reached.
    """
    given = [args.coordinator, args.num_processes, args.process_id]
    if all(v is None for v in given) and not args.distributed:
        return
    if args.distributed and any(v is not None for v in given):
        raise ConfigError("give either --distributed or --coordinator/--num-processes/--process-id")
    if not args.distributed:
        if any(v is None for v in given):
            raise ConfigError("--coordinator, --num-processes and --process-id go together")
        if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
            raise ConfigError(
                f"--process-id must be in 0..{args.num_processes - 1}, got {args.process_id}"
            )
    import jax

    if jax.distributed.is_initialized():  # joined already (e.g. by a script around main)
        return
    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices only
    try:
        jax.distributed.initialize(
            args.coordinator,
            args.num_processes,
            args.process_id,
            initialization_timeout=CONNECT_SECONDS,
            heartbeat_timeout_seconds=HEARTBEAT_SECONDS,
        )
    except Exception as e:
        raise ConfigError(f"distributed: {_first_line(e)}") from None
    start_watchdog()


def start_watchdog(period: float = 1.0, timeout: float = WATCHDOG_SECONDS) -> None:
    """Starts a daemon thread that beats for this process and watches the others'.

    Every ``period`` seconds it writes its beat count under ``purejaxdqn/alive/<id>`` in the
    coordination service's key-value store and reads every peer's. A peer whose count has not
    changed for ``timeout`` seconds, or a coordinator that cannot be reached, ends this
    process with one line on stderr and exit 1 (at once: JAX's shutdown would wait for the
    dead peer). Nothing happens with one process.
    """
    import threading
    import time

    import jax
    from jax._src import distributed as jax_distributed  # the coordination client

    client = jax_distributed.global_state.client
    if client is None or jax.process_count() == 1:
        return
    me, peers = (
        jax.process_index(),
        [p for p in range(jax.process_count()) if p != jax.process_index()],
    )

    def lost(what: str) -> None:
        print(f"error: distributed: process {me} lost {what}", file=sys.stderr, flush=True)
        os._exit(1)

    def beat() -> None:
        count, seen = 0, {p: (None, time.monotonic()) for p in peers}
        while True:
            count += 1
            try:
                client.key_value_set(f"{_ALIVE}{me}", str(count), allow_overwrite=True)
                beats = dict(client.key_value_dir_get(_ALIVE))
            except Exception as e:  # the coordinator (process 0) is gone
                lost(f"the coordinator ({_first_line(e)})")
            now = time.monotonic()
            for p in peers:
                value = beats.get(f"{_ALIVE}{p}")
                if value != seen[p][0]:
                    seen[p] = (value, now)
                elif now - seen[p][1] > timeout:
                    lost(f"process {p}: no heartbeat for {timeout:g} s (it died or hangs)")
            time.sleep(period)

    threading.Thread(target=beat, name="purejaxdqn-watchdog", daemon=True).start()


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def guard(fn: Callable[[], T]) -> T:
    """``fn()``, ended with one line and exit 1 when an exchange with another process fails.

    At once (``os._exit``): JAX's shutdown would wait for the dead peer.
    """
    import jax

    if jax.process_count() == 1:
        return fn()
    try:
        return fn()
    except (ConfigError, SystemExit):
        raise
    except Exception as e:
        print(
            f"error: distributed: process {jax.process_index()} lost another process "
            f"({_first_line(e)})",
            file=sys.stderr,
            flush=True,
        )
        sys.stdout.flush()
        os._exit(1)
