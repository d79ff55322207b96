"""Peer worker for ``benchmarks/peers.py``: Stable-Baselines3 or SBX DQN on gymnasium.

Runs in the peer's own virtual environment (never the project's). Seeds are trained one
after another in this process (neither library vectorizes over seeds). Prints one JSON line
on stdout: per seed, the seconds of model construction + ``learn`` (the training wall time;
SBX compiles its jitted update inside it) and the mean return of ``--eval-episodes`` greedy
episodes on fresh env instances after training (not timed).

Usage (by peers.py)::

    python sb3_worker.py --lib sb3 --env CartPole-v1 --seeds 0,1 --config '{...}'
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import gymnasium as gym
import numpy as np


class DiscretizeAction(gym.ActionWrapper):
    """A 1-D Box action space as ``Discrete(bins)``: ``bins`` evenly spaced values from
    ``low`` to ``high`` inclusive (the same set as ``purejaxdqn.envs.Discretize``)."""

    def __init__(self, env: gym.Env, bins: int) -> None:
        super().__init__(env)
        low, high = env.action_space.low, env.action_space.high
        if low.shape != (1,):
            raise ValueError(f"expected a 1-D Box action space, got {env.action_space}")
        self.values = np.linspace(low[0], high[0], bins).astype(np.float32)
        self.action_space = gym.spaces.Discrete(bins)

    def action(self, action):
        return np.array([self.values[int(action)]], dtype=np.float32)


def make_env(name: str, bins: int) -> gym.Env:
    env = gym.make(name)
    if isinstance(env.action_space, gym.spaces.Box):
        env = DiscretizeAction(env, bins)
    return env


def greedy_return(model, name: str, bins: int, episodes: int, seed: int) -> float:
    env = make_env(name, bins)
    total = 0.0
    for e in range(episodes):
        obs, _ = env.reset(seed=10_000 + 100 * seed + e)
        done = False
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, term, trunc, _ = env.step(action)
            total += float(reward)
            done = term or trunc
    return total / episodes


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib", choices=["sb3", "sbx"], required=True)
    ap.add_argument("--env", required=True)
    ap.add_argument("--seeds", required=True, help="comma-separated seed numbers")
    ap.add_argument("--config", required=True, help="the matched config as JSON")
    ap.add_argument("--eval-episodes", type=int, default=8)
    ap.add_argument("--torch-threads", type=int, default=1, help="torch intra-op threads")
    args = ap.parse_args()
    c = json.loads(args.config)

    t_import = time.perf_counter()
    if args.lib == "sb3":
        import stable_baselines3 as lib
        import torch
        from stable_baselines3 import DQN

        torch.set_num_threads(args.torch_threads)

        extra = {"max_grad_norm": c["max_grad_norm"], "device": "cpu"}
        backend = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    else:
        import jax
        import sbx as lib
        from sbx import DQN

        extra = {}
        backend = f"jax {jax.__version__} on {jax.devices()[0].platform}"
    import_seconds = time.perf_counter() - t_import

    per_seed = []
    for seed in (int(s) for s in args.seeds.split(",")):
        env = make_env(args.env, c["bins"])
        t0 = time.perf_counter()
        model = DQN(
            "MlpPolicy",
            env,
            learning_rate=c["lr"],
            buffer_size=c["capacity"],
            learning_starts=c["learning_starts"],
            batch_size=c["batch_size"],
            tau=1.0,
            gamma=c["gamma"],
            train_freq=c["train_every"],
            gradient_steps=c["gradient_steps"],
            target_update_interval=c["target_period"],
            exploration_fraction=c["exploration_steps"] / c["total_steps"],
            exploration_initial_eps=c["eps_start"],
            exploration_final_eps=c["eps_end"],
            policy_kwargs={"net_arch": list(c["hidden"])},
            seed=seed,
            verbose=0,
            **extra,
        )
        model.learn(total_timesteps=c["total_steps"])
        seconds = time.perf_counter() - t0
        ret = greedy_return(model, args.env, c["bins"], args.eval_episodes, seed)
        per_seed.append({"seed": seed, "seconds": seconds, "final_return": ret})
        print(f"{args.lib} seed {seed}: {seconds:.1f}s, return {ret:.1f}", file=sys.stderr)

    print(
        json.dumps(
            {
                "tool": args.lib,
                "version": lib.__version__,
                "gymnasium": gym.__version__,
                "backend": backend,
                "import_seconds": import_seconds,
                "steps_per_seed": c["total_steps"],
                "per_seed": per_seed,
            }
        )
    )


if __name__ == "__main__":
    main()
