"""When DQN learns: env steps between learning phases and gradient steps per phase."""

from __future__ import annotations

from typing import NamedTuple

from purejaxdqn.config import Config


class LearningCadence(NamedTuple):
    """How often DQN learns.

    Attributes:
      every: env steps (per seed) between learning phases.
      gradient_steps: gradient steps per phase.
    """

    every: int
    gradient_steps: int


def learning_cadence(config: Config) -> LearningCadence:
    """A phase every ``train_every`` env steps, or every vector step when ``num_envs`` is larger.

    A phase then has proportionally more gradient steps: the replay ratio
    ``gradient_steps / train_every`` is kept.
    """
    every = max(config.train_every, config.num_envs)
    per_phase = config.gradient_steps * max(1, config.num_envs // config.train_every)
    return LearningCadence(every, per_phase)


def num_updates(config: Config) -> int:
    """Gradient steps in a whole run (per seed)."""
    every, per_phase = learning_cadence(config)
    phases = config.total_steps // every - -(-config.learning_starts // every) + 1
    return max(phases, 0) * per_phase


def learns_after(config: Config, t: int) -> bool:
    """Whether a learning phase follows vector step ``t`` (0-based): the schedule's definition."""
    steps = (t + 1) * config.num_envs
    return steps >= config.learning_starts and steps % learning_cadence(config).every == 0


def targets_after(config: Config, t: int) -> bool:
    """Whether the target network is updated after vector step ``t``."""
    return ((t + 1) * config.num_envs) % config.target_period == 0


class PeriodKinds(NamedTuple):
    """Eval periods grouped by their warm-up length.

    Attributes:
      warmups: the distinct warm-up lengths (vector steps before learning starts).
      kind_of: for each period, the position of its warm-up length in ``warmups``.
    """

    warmups: tuple[int, ...]
    kind_of: tuple[int, ...]


class BlockPlan(NamedTuple):
    """The static layout of a run in vector steps (see :mod:`purejaxdqn.dqn.loop`).

    Attributes:
      block: vector steps per learning block; a phase follows each block's last step.
      warmup: vector steps before the first learning block.
      period: vector steps per eval period, a multiple of ``block``.
      target_every: vector steps between target updates.
    """

    block: int
    warmup: int
    period: int
    target_every: int

    def period_kinds(self, num_periods: int) -> PeriodKinds:
        """The warm-up length of each of ``num_periods`` periods, deduplicated."""
        w, i = self.warmup, self.period
        lengths = [min(max(w - p * i, 0), i) for p in range(num_periods)]
        warmups = tuple(sorted(set(lengths), reverse=True))
        return PeriodKinds(warmups, tuple(warmups.index(w) for w in lengths))


def block_plan(config: Config) -> BlockPlan | None:
    """The run's block layout, or ``None`` if an eval period is not a whole number of blocks.

    Learning follows vector step ``t`` iff ``(t + 1) * num_envs >= learning_starts`` and
    ``(t + 1) * num_envs`` is a multiple of ``every`` (a multiple of ``num_envs``), i.e. at the
    end of every block of ``every // num_envs`` vector steps from block ``J0`` on.
    """
    n = config.num_envs
    block = learning_cadence(config).every // n
    period = config.eval_every // n
    if period % block:
        return None
    first_block = max(-(-config.learning_starts // (block * n)) - 1, 0)
    return BlockPlan(block, first_block * block, period, config.target_period // n)
