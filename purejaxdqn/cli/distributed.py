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
exchange at once. A process that is not exchanging then (e.g. still compiling) is ended by
JAX itself once the coordinator declares the peer dead, after :data:`HEARTBEAT_SECONDS`
(with JAX's own message and a C++ stack: this jaxlib cannot take a Python callback there).
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
