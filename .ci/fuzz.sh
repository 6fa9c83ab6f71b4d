#!/usr/bin/env bash
# Short libFuzzer runs of every target in native/fuzz (cargo-fuzz layout).
# Needs a nightly toolchain and cargo-fuzz; without them it says so and
# exits 0 (the stable replay test in `cargo test` covers every target anyway).
#   CHUNKER_FUZZ_BUDGET   total seconds of fuzzing (default 60), split evenly,
#                         at most CHUNKER_FUZZ_SECONDS (default 15) per target
#   CHUNKER_FUZZ_INSTALL  1: `cargo install cargo-fuzz` when missing (~40 s)
#   CHUNKER_FUZZ_BUILD_TIMEOUT  seconds for building the targets (default 300)
# A crash or invariant violation fails; the input is in native/fuzz/artifacts/.
set -euo pipefail
cd "$(dirname "$0")/../native/fuzz"

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: skipped (no nightly toolchain; rustup toolchain install nightly)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  if [ "${CHUNKER_FUZZ_INSTALL:-0}" = 1 ]; then
    cargo install cargo-fuzz --locked
  else
    echo "fuzz: skipped (cargo-fuzz not installed; cargo install cargo-fuzz, or CHUNKER_FUZZ_INSTALL=1)"
    exit 0
  fi
fi

targets=$(cargo +nightly fuzz list)
count=$(echo "$targets" | wc -w)
budget=${CHUNKER_FUZZ_BUDGET:-60}
per=$(( budget / count ))
max=${CHUNKER_FUZZ_SECONDS:-15}
[ "$per" -gt "$max" ] && per=$max
[ "$per" -lt 1 ] && per=1

# The first build compiles everything (C codecs included) with sanitizer
# instrumentation: bounded too; later builds are incremental.
build_timeout=${CHUNKER_FUZZ_BUILD_TIMEOUT:-300}
build_status=0
timeout "$build_timeout" cargo +nightly fuzz build -O >/tmp/chunker-fuzz-build.log 2>&1 || build_status=$?
if [ "$build_status" = 124 ]; then
  echo "fuzz: skipped (build not done in ${build_timeout}s; it resumes next run)"
  exit 0
elif [ "$build_status" != 0 ]; then
  tail -30 /tmp/chunker-fuzz-build.log
  exit "$build_status"
fi
for t in $targets; do
  # New inputs go to a scratch directory, never into the checked-in seeds.
  scratch=$(mktemp -d)
  log="$scratch.log"
  status=0
  cargo +nightly fuzz run "$t" "$scratch" "corpus/$t" -- \
    -max_total_time="$per" -rss_limit_mb=4096 -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz: $t: $runs executions in ${per}s"
  if [ "$status" != 0 ]; then
    tail -40 "$log"
    echo "fuzz: $t FAILED (artifact in native/fuzz/artifacts/$t/)"
    rm -rf "$scratch" "$log"
    exit 1
  fi
  rm -rf "$scratch" "$log"
done
