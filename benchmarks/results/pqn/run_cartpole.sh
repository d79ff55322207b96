#!/usr/bin/env bash
# The measured runs of benchmarks/results/pqn/README.md, one after the other (nice -n 5).
# Usage: bash benchmarks/results/pqn/run_cartpole.sh OUT_DIR   (from the repository root)
set -u
out=${1:-/tmp/pqn_bench}
mkdir -p "$out"
py=${PYTHON:-python}
run() {
  local name=$1; shift
  echo "== $name: $*" | tee -a "$out/log.txt"
  echo "load before: $(uptime)" | tee -a "$out/log.txt"
  /usr/bin/time -f "elapsed %e s" nice -n 5 "$py" -m purejaxdqn.run "$@" --quiet --out "$out/$name" \
    2>&1 | tee -a "$out/log.txt"
  echo "load after: $(uptime)" | tee -a "$out/log.txt"
}
run pqn-cartpole --algorithm pqn --env CartPole-v1 --seeds 16
run dqn-cartpole --env CartPole-v1 --seeds 16
