#!/usr/bin/env bash
# The Rust core's tests (chunker_core: unit and integration tests;
# chunker_fuzz_targets: the fuzz replay over the seed corpus) under
# AddressSanitizer. Needs a nightly toolchain; without one it says so and
# exits 0. `--target` keeps build scripts and proc-macros uninstrumented;
# the bundled C codecs (zstd, lz4, xz, bzip2) are instrumented too.
# Skipped under ASan: the peak-RSS test (compress_memory), whose bound is
# meaningless with ASan's shadow memory and quarantine.
#   CHUNKER_FUZZ_CASES  generated inputs per fuzz target in the replay
#                       (default 1000, as in the plain run)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "asan: skipped (no nightly toolchain; rustup toolchain install nightly)"
  exit 0
fi
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
case "$host" in
  x86_64-unknown-linux-gnu | aarch64-unknown-linux-gnu) ;;
  *) echo "asan: skipped (no AddressSanitizer support on $host here)"; exit 0 ;;
esac

cc_var=$(echo "$host" | tr '-' '_')
export RUSTFLAGS="-Zsanitizer=address"
export "CFLAGS_$cc_var=-fsanitize=address -fno-omit-frame-pointer"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:detect_stack_use_after_return=1}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
start=$(date +%s)
status=0
cargo +nightly test --manifest-path native/Cargo.toml --target "$host" --profile fast \
  -p chunker_core -p chunker_fuzz_targets --lib --tests -- \
  --skip bombs_keep_peak_memory_near_the_limit >"$log" 2>&1 || status=$?
if [ "$status" != 0 ]; then
  grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked)' "$log" | head -40 || true
  tail -60 "$log"
  echo "asan: FAILED (a test failed or AddressSanitizer reported an error)"
  exit "$status"
fi
passed=$(grep -E '^test result: ok' "$log" | awk '{n += $4} END {print n + 0}')
echo "asan: $passed core and fuzz-replay tests passed under AddressSanitizer ($(( $(date +%s) - start ))s with the build)"
