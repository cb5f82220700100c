#!/usr/bin/env bash
# Minimises the committed corpus of one fuzz target, keeping its named seeds:
#
#   fuzz/minimize-corpus.sh TARGET [NEW_INPUTS_DIR...]
#
# The named seeds (every file whose name is not a 40-digit SHA-1) are what the stable replay
# tests look up by name, so they stay as they are. The SHA-1-named inputs and the new inputs
# of a campaign are merged into a directory that holds the named seeds first, keeping only
# a set that covers every edge and comparison any of them reaches (`-set_cover_merge=1
# -use_counters=0`; hit-count buckets alone do not earn a file its place). The result
# replaces corpus/TARGET. Needs cargo-fuzz and nightly (or RUSTC_BOOTSTRAP=1).
set -euo pipefail
target=${1:?usage: minimize-corpus.sh TARGET [NEW_INPUTS_DIR...]}
shift
cd "$(dirname "$0")"
corpus="corpus/$target"
[[ -d $corpus ]] || { echo "no corpus $corpus" >&2; exit 1; }
# Absolute paths for the new inputs: the merge runs from this directory.
extra=()
for dir in "$@"; do extra+=("$(cd "$dir" && pwd)"); done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/kept" "$work/pool"
for file in "$corpus"/*; do
  if [[ $(basename "$file") =~ ^[0-9a-f]{40}$ ]]; then
    cp "$file" "$work/pool/"
  else
    cp "$file" "$work/kept/"
  fi
done
cargo_fuzz=(cargo)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  cargo_fuzz=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
before=$(find "$corpus" -type f | wc -l)
"${cargo_fuzz[@]}" fuzz run "$target" "$work/kept" "$work/pool" "${extra[@]}" -- \
  -set_cover_merge=1 -use_counters=0 -rss_limit_mb=2048 -timeout=10 > "$work/merge.log" 2>&1 \
  || { tail -n 30 "$work/merge.log"; exit 1; }
rm -f "$corpus"/*
cp "$work/kept"/* "$corpus/"
echo "$target: $before files before, $(find "$corpus" -type f | wc -l) after"
