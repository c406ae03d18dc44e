#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a bounded time (default 20 s each).
# Exits non-zero when a target crashes (its input is kept under fuzz/artifacts/<target>/).
# Usage: fuzz/run-bounded.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")"
SECS="${1:-20}"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal || { echo "no nightly toolchain: cannot fuzz" >&2; exit 1; }
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked || { echo "cargo-fuzz could not be installed" >&2; exit 1; }
fi

# FUZZ_TARGET_DIR: where the instrumented build goes (default fuzz/target).
if [ -n "${FUZZ_TARGET_DIR:-}" ]; then
  export CARGO_TARGET_DIR="$FUZZ_TARGET_DIR"
else
  unset CARGO_TARGET_DIR
fi
cargo +nightly fuzz build -O
status=0
for target in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$target"
  echo "== fuzz $target for ${SECS}s"
  if ! cargo +nightly fuzz run -O "$target" "corpus/$target" -- \
      -max_total_time="$SECS" -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
      | tail -n 25; then
    echo "!! $target crashed: see fuzz/artifacts/$target/" >&2
    status=1
  fi
done
exit "$status"
