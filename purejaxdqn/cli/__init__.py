"""Command-line building blocks: flags and the config they give, progress, printout."""

from purejaxdqn.cli.flags import (
    OneLineArgumentParser,
    UsageError,
    add_config_flags,
    config_from_args,
)
from purejaxdqn.cli.progress import Progress
from purejaxdqn.cli.table import fmt_ci, fmt_float, format_table

__all__ = [
    "OneLineArgumentParser",
    "Progress",
    "UsageError",
    "add_config_flags",
    "config_from_args",
    "fmt_ci",
    "fmt_float",
    "format_table",
]
