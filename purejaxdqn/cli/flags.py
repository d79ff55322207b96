"""Command-line flags shared by the run and sweep commands, and the config they give.

Every bad input raises :class:`UsageError` (a bad command line) or
:class:`~purejaxdqn.config.ConfigError` (a bad value), each with a one-line message.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any, NoReturn

from purejaxdqn import config as config_lib
from purejaxdqn import config_checks
from purejaxdqn.cli import cpu_devices
from purejaxdqn.config import Config, ConfigError
from purejaxdqn.presets import eval_granularity, preset_overrides
from purejaxdqn.rundir import files

__all__ = [
    "OneLineArgumentParser",
    "UsageError",
    "add_config_flags",
    "config_from_args",
    "field_type",
    "parse_bool",
    "parse_json_object",
    "parse_widths",
]


class UsageError(Exception):
    """A bad command line: reported in one line, exit code 2."""


#: A value argparse must read as a number, not as an option: ``-1``, ``-1e-3``, ``-.5``,
#: ``-inf`` (argparse's own pattern misses exponents and ``inf``).
NEGATIVE_NUMBER = re.compile(
    r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.IGNORECASE
)


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors raise :class:`UsageError`.

    It does not print the usage block, so every bad command line is reported in one line.
    Its help texts state their own defaults: keep the plain help formatter (with
    ``argparse.ArgumentDefaultsHelpFormatter`` every flag would show a second default).
    A negative number (``--lr -1e-3``) is a value, so validation reports it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = NEGATIVE_NUMBER  # no option looks like a number

    def error(self, message: str) -> NoReturn:
        """Raises :class:`UsageError` with ``message`` (instead of printing usage and exiting)."""
        raise UsageError(message)


def parse_widths(text: str) -> tuple[int, ...]:
    """``"64,64"`` -> ``(64, 64)`` (spaces and empty items ignored).

    Raises:
        argparse.ArgumentTypeError: If an item is not an integer.
    """
    try:
        return tuple(int(w) for w in text.replace(" ", "").split(",") if w)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected comma-separated ints, got {text!r}") from e


def parse_bool(text: str) -> bool:
    """``1/true/yes/on`` -> ``True``, ``0/false/no/off`` -> ``False`` (any case).

    Raises:
        argparse.ArgumentTypeError: For any other text.
    """
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_json_object(text: str) -> dict[str, Any]:
    """A JSON object such as ``'{"backend": "mjx"}'`` -> a dict.

    Raises:
        argparse.ArgumentTypeError: If the text is not JSON or not an object.
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r} ({e})") from e
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _field_default(f: dataclasses.Field) -> Any:
    if f.default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _shown_default(f: dataclasses.Field) -> str:
    """A field's default as its flag takes it: layer widths ``32,32`` (``none`` if empty)."""
    default = _field_default(f)
    if isinstance(default, tuple):
        return ",".join(map(str, default)) or "none"
    return repr(default)


def field_type(f: dataclasses.Field) -> Any:
    """The argparse ``type`` of a :class:`~purejaxdqn.config.Config` field's flag.

    Layer widths take ``parse_widths``, booleans ``parse_bool``, dicts
    ``parse_json_object``, traced fields ``float`` and the rest their default's type.
    """
    if f.name in ("hidden", "conv"):
        return parse_widths
    default = _field_default(f)
    if isinstance(default, bool):
        return parse_bool
    if isinstance(default, dict):
        return parse_json_object
    if f.metadata["traced"]:
        return float
    return type(default)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Add the run flags and one flag per config field to ``parser``.

    The run flags are ``--seeds``, ``--seed``, ``--out``, ``--config``, ``--quiet``,
    ``--checkpoint-every``, ``--resume``, ``--log`` and ``--cpu-devices``; each config field
    ``name`` gets ``--name`` (underscores as dashes, ``dest`` the field name) in a group of
    its own. Every flag but ``--quiet`` defaults to ``None`` (not given), and its help states
    the real default once.

    Args:
        parser: The parser to extend (built with the plain help formatter).
    """
    p = parser
    p.add_argument(
        "--seeds", type=int, default=None, help="number of seeds trained together (default 64)"
    )
    p.add_argument(
        "--seed", type=int, default=None, help="first seed; seed i uses key(seed + i) (default 0)"
    )
    p.add_argument(
        "--out", type=str, default=None, help="run directory (default runs/<env>-<time>)"
    )
    p.add_argument("--config", type=str, default=None, help="a config.json to start from")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=None,
        help="save a resumable checkpoint every N env steps per seed (a multiple of "
        "eval_every dividing total_steps; default: no checkpoints)",
    )
    p.add_argument(
        "--resume",
        type=str,
        default=None,
        metavar="RUN_DIR",
        help="continue an interrupted run from its latest checkpoint (no other config flags)",
    )
    p.add_argument(
        "--env-backend",
        type=str,
        default=None,
        help="shorthand for env_kwargs {\"backend\": NAME}: the pendulum's 'analytic' "
        "or 'mjx', a Brax env's 'generalized', 'positional', 'spring' or 'mjx' (default: "
        "the env's own)",
    )
    p.add_argument(
        "--max-memory-gb",
        type=float,
        default=None,
        help="memory limit per device in GiB (default: the device's, or half the host's)",
    )
    p.add_argument(
        "--log",
        type=str,
        default=None,
        metavar="BACKENDS",
        help="also stream the metrics to dashboards: tensorboard, wandb or both, comma-"
        "separated (metrics.csv and the JSON files are always written)",
    )
    cpu_devices.add_flag(p)
    group = p.add_argument_group(
        "config fields (defaults: the env's preset, else those shown; an unset eval_every is "
        "the preset's if it divides total_steps, else the divisor of total_steps giving about "
        "the preset's number of evaluations)"
    )
    for f in dataclasses.fields(Config):
        group.add_argument(
            "--" + f.name.replace("_", "-"),
            dest=f.name,
            type=field_type(f),
            default=None,
            help=f.metadata["help"] + f" (default {_shown_default(f)})",
        )


def refuse_beside_resume(args: argparse.Namespace, others: Sequence[str], what: str) -> None:
    """Refuses a config flag or one of ``others`` given beside ``--resume``.

    Raises:
      ConfigError: one line naming the flag; ``what`` says what ``--resume`` continues ("a
        run as configured", "a sweep as specified").
    """
    given = [f for f in config_lib.field_names() if getattr(args, f) is not None]
    given += [o for o in others if getattr(args, o, None) is not None]
    if given:
        raise ConfigError(f"--resume continues {what}; drop --{given[0].replace('_', '-')}")


def config_from_args(
    args: argparse.Namespace, presets: bool = True
) -> tuple[Config, int, int, int | None]:
    """The config and run entries of parsed flags.

    Layers, later ones winning: the preset of the algorithm and env (if ``presets``;
    :func:`~purejaxdqn.presets.preset_overrides`), the ``--config`` file,
    the explicit flags. When neither the file nor a flag sets ``eval_every`` it is derived
    from ``total_steps`` (:func:`purejaxdqn.config_checks.derived_eval_every`).
    ``seeds``, ``seed`` and ``checkpoint_every`` come from their flags,
    else from the ``--config`` file, else 64, 0 and ``None``.

    Args:
        args: Parsed flags (see :func:`add_config_flags`); ``checkpoint_every`` may be
            absent.
        presets: Put the env's preset under the config (``False`` for a resumed run's own
            ``config.json``, where a missing field takes its default).

    Returns:
        ``(config, seeds, seed, checkpoint_every)``.

    Raises:
        ConfigError: For an invalid value or file, with a one-line message.
    """
    base: dict[str, Any] = {}
    run: dict[str, Any] = {}
    if args.config is not None:
        config_checks.read_size_ok("--config", args.config)
        base, run = files.read_config_file(args.config)
    flags = {f: getattr(args, f) for f in config_lib.field_names() if getattr(args, f) is not None}
    env = flags.get("env", base.get("env", Config.env))
    if not isinstance(env, str):
        raise ConfigError(f"env must be a string, got {env!r}")
    algorithm = flags.get("algorithm", base.get("algorithm", Config.algorithm))
    preset = preset_overrides(env, algorithm) if presets else {}
    merged = {**preset, **base, **flags, "env": env}
    if presets and "eval_every" not in base and "eval_every" not in flags:
        ref_total = preset.get("total_steps", Config.total_steps)
        ref_every = preset.get("eval_every", Config.eval_every)
        merged["eval_every"] = config_checks.derived_eval_every(
            merged.get("total_steps", ref_total),
            eval_granularity(merged),
            ref_total,
            ref_every,
        )
    backend = getattr(args, "env_backend", None)
    if backend is not None:
        merged["env_kwargs"] = {**merged.get("env_kwargs", {}), "backend": backend}
    seeds = args.seeds if args.seeds is not None else run.get("seeds", 64)
    seed = args.seed if args.seed is not None else run.get("seed", 0)
    every = getattr(args, "checkpoint_every", None)
    every = every if every is not None else run.get("checkpoint_every")
    config_checks.check_seed_range(seeds, seed)
    config = Config.from_dict(merged)
    if every is not None:
        if not config_lib.is_int(every) or every <= 0:
            raise ConfigError(f"checkpoint_every must be a positive integer, got {every!r}")
        if every % config.eval_every or config.total_steps % every:
            raise ConfigError(
                f"checkpoint_every ({every}) must be a multiple of eval_every "
                f"({config.eval_every}) that divides total_steps ({config.total_steps})"
            )
    return config, seeds, seed, every
