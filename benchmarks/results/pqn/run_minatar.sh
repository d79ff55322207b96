#!/usr/bin/env bash
# The measured MinAtar row of benchmarks/results/pqn/README.md (nice -n 5): PQN's MinAtar
# preset on Breakout-MinAtar cut to a CPU budget of 983,040 env steps (240 rollouts of
# 128 x 32), epsilon decaying over the first 10% of it as in the preset.
# Usage: bash benchmarks/results/pqn/run_minatar.sh OUT_DIR   (from the repository root)
set -u
out=${1:-/tmp/pqn_bench}
mkdir -p "$out"
py=${PYTHON:-python}
args=(--algorithm pqn --env Breakout-MinAtar --seeds 4 --total-steps 983040 --eval-every 98304
      --exploration-steps 98304 --quiet --out "$out/pqn-breakout")
echo "== pqn-breakout: ${args[*]}" | tee -a "$out/log.txt"
echo "load before: $(uptime)" | tee -a "$out/log.txt"
/usr/bin/time -f "elapsed %e s" nice -n 5 "$py" -m purejaxdqn.run "${args[@]}" 2>&1 | tee -a "$out/log.txt"
echo "load after: $(uptime)" | tee -a "$out/log.txt"
