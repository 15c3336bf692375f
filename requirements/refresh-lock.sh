#!/usr/bin/env bash
# Regenerates requirements/lock.txt: every package of `.[dev,team]` (and so of every smaller
# extra) at one version, for CPython 3.11 on x86-64 Linux, from pyproject.toml's ranges.
# Run it after changing a dependency or a range in pyproject.toml (tests/test_lock.py fails
# until you do), or to move the whole set to newer releases; commit the result.
#
# torch is resolved at the version the README installs first (its CPU build, read from a
# find-links folder so its CUDA wheels' packages stay out), and left out of the lock: the
# README's own `pip install torch==2.13.0` owns it, so a CUDA build installed instead still
# satisfies the lock.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0
TORCH_FIND_LINKS=${TORCH_FIND_LINKS:-/opt/wheels}
if ! ls "$TORCH_FIND_LINKS"/torch-"$TORCH_VERSION"+cpu-*.whl >/dev/null 2>&1; then
  echo "refresh-lock: no torch $TORCH_VERSION CPU wheel in $TORCH_FIND_LINKS; set TORCH_FIND_LINKS to a folder that has one" >&2
  exit 2
fi
command -v uv >/dev/null 2>&1 || { echo "refresh-lock: needs uv (pip install uv)" >&2; exit 2; }

constraint=$(mktemp)
trap 'rm -f "$constraint"' EXIT
echo "torch==$TORCH_VERSION" >"$constraint"

uv pip compile pyproject.toml --extra dev --extra team \
  --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
  --find-links "$TORCH_FIND_LINKS" --constraint "$constraint" \
  --no-emit-package torch --no-header --quiet \
  --output-file requirements/lock.txt.tmp
{
  echo "# The whole dependency set of .[dev,team] at one version each, for CPython 3.11 on"
  echo "# x86-64 Linux, torch $TORCH_VERSION installed first (the README). Made by"
  echo "# requirements/refresh-lock.sh from pyproject.toml; edit pyproject.toml, then rerun it."
  cat requirements/lock.txt.tmp
} >requirements/lock.txt.new
rm requirements/lock.txt.tmp
mv requirements/lock.txt.new requirements/lock.txt
echo "refresh-lock: $(grep -c '==' requirements/lock.txt) packages pinned in requirements/lock.txt"
