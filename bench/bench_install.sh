#!/usr/bin/env bash
# Times the README's two install commands on a fresh clone with an empty pip cache, counts
# pip's backtracking messages, checks that two such installs freeze the same, and times an
# unlocked resolve of the team extra (BENCHMARKS.md, "Install").
#   bash bench/bench_install.sh            (from the repository root; takes ~6 minutes)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

backtracking() {  # pip's messages when it walks versions
  echo "extra-warnings=$(grep -c 'does not provide the extra' "$1" || true)" \
       "multiple-versions=$(grep -c 'looking at multiple versions' "$1" || true)"
}

install() {  # $1: name, $2: extras; a fresh clone, venv and cache; prints seconds
  local dir=$work/$1
  git clone -q "$repo" "$dir"
  cd "$dir"
  python3 -m venv .venv
  local start=$SECONDS
  PIP_CACHE_DIR=$dir/cache .venv/bin/pip install torch==2.13.0 >"$dir/torch.log" 2>&1
  PIP_CACHE_DIR=$dir/cache .venv/bin/pip install -c requirements/lock.txt -e ".[$2]" >"$dir/pip.log" 2>&1
  echo "$1: pip install torch==2.13.0 && pip install -c requirements/lock.txt -e '.[$2]': $((SECONDS - start)) s, $(backtracking "$dir/pip.log")"
  .venv/bin/pip freeze --exclude-editable >"$dir/freeze.txt"
  cd "$repo"
}

install command1 dev
install command2 dev,team
# A second machine: the same command 2 in another clone, cache and venv.
install command2-again dev,team
if diff -q "$work/command2/freeze.txt" "$work/command2-again/freeze.txt" >/dev/null; then
  echo "pip freeze of the two command-2 installs: identical ($(wc -l <"$work/command2/freeze.txt") packages)"
else
  echo "pip freeze of the two command-2 installs DIFFERS:"; diff "$work/command2/freeze.txt" "$work/command2-again/freeze.txt" || true
fi

# The team extra from pyproject's ranges alone, no lock: how long pip's resolver takes.
cd "$work/command1"
start=$SECONDS
PIP_CACHE_DIR=$work/unlocked-cache .venv/bin/pip install --dry-run --ignore-installed -e '.[team]' >"$work/unlocked.log" 2>&1
echo "unlocked: pip install --dry-run --ignore-installed -e '.[team]' (empty cache): $((SECONDS - start)) s, $(backtracking "$work/unlocked.log")"
