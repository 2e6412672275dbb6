#!/usr/bin/env bash
# make bench: every benchmark in bench/, each writing its JSON to bench/results/<name>.json.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
source scripts/env.sh || exit 1
mkdir -p bench/results
failed=()
for script in bench/[!_]*.py; do  # bench/_*.py are shared helpers
  name=$(basename "$script" .py)
  echo "[bench] $name"
  if python "$script" --out "bench/results/$name.json"; then
    echo "[bench] -> bench/results/$name.json"
  else
    failed+=("$name")
  fi
done
if ((${#failed[@]})); then
  echo "[bench] failed: ${failed[*]}" >&2
  exit 1
fi
