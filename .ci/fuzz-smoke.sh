# Sourced by .ci/run (and usable by hand from the repository root): checks the fuzz
# workspace's formatting, builds every target with libFuzzer and runs each for a short
# time from its committed seed corpus. New inputs go to a temporary directory, so the
# committed corpus is only read. A crash fails the run; longer campaigns are by hand
# (docs/FUZZING.md: `cargo +nightly fuzz run TARGET`, then a merge into the corpus).
fuzz_seconds="${AUTOCSR_FUZZ_SMOKE_SECONDS:-10}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz
fi
# cargo-fuzz needs nightly flags (-Zsanitizer). Use the nightly toolchain when the machine
# has one; otherwise let stable accept them, as the Rust project's own bootstrap does.
fuzz_cargo=(cargo)
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  fuzz_cargo=(cargo +nightly)
else
  export RUSTC_BOOTSTRAP=1
fi
(
  cd "$repo/fuzz"
  cargo fmt --check
  "${fuzz_cargo[@]}" fuzz build
  new_inputs=$(mktemp -d)
  trap 'rm -rf "$new_inputs"' EXIT
  for target in $("${fuzz_cargo[@]}" fuzz list); do
    echo "fuzzing $target for ${fuzz_seconds}s"
    mkdir -p "$new_inputs/$target"
    log_file="$new_inputs/$target.log"
    if ! "${fuzz_cargo[@]}" fuzz run "$target" "$new_inputs/$target" "corpus/$target" -- \
      -max_total_time="$fuzz_seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      >"$log_file" 2>&1; then
      tail -n 60 "$log_file"
      echo "fuzz target $target failed"
      exit 1
    fi
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log_file" || true
  done
)
