#!/usr/bin/env bash
# Line coverage of chunker_core's sources (src/) by its own tests and the
# fuzz replay, with rustc's `-C instrument-coverage` and the llvm-tools
# rustup component (installed when missing: a download, no compiling).
# Prints the per-file table and the total; fails under
# CHUNKER_CORE_COVERAGE_MIN percent (default 90).
# Instrumented builds go to native/target/coverage (`--target` keeps build
# scripts uninstrumented).
set -euo pipefail
cd "$(dirname "$0")/.."
min=${CHUNKER_CORE_COVERAGE_MIN:-90}
host=$(rustc -vV | sed -n 's/^host: //p')
tools="$(rustc --print sysroot)/lib/rustlib/$host/bin"
if [ ! -x "$tools/llvm-profdata" ]; then
  rustup component add llvm-tools >/dev/null 2>&1 || rustup component add llvm-tools-preview >/dev/null || {
    echo "coverage: needs the llvm-tools rustup component (rustup component add llvm-tools)"
    exit 1
  }
fi

out="$PWD/native/target/coverage"
rm -rf "$out/profraw"
mkdir -p "$out/profraw"
export RUSTFLAGS="-C instrument-coverage"
export LLVM_PROFILE_FILE="$out/profraw/%m-%p.profraw"
args=(--manifest-path native/Cargo.toml --target "$host" --target-dir "$out" --profile fast
  -p chunker_core -p chunker_fuzz_targets --lib --tests)

log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test "${args[@]}" >"$log" 2>&1 || { tail -60 "$log"; exit 1; }
objects=()
while read -r exe; do objects+=(--object "$exe"); done < <(
  cargo test "${args[@]}" --no-run --message-format=json 2>/dev/null |
    grep -o '"executable":"[^"]*"' | sed 's/^"executable":"//; s/"$//')

"$tools/llvm-profdata" merge -sparse "$out"/profraw/*.profraw -o "$out/merged.profdata"
# Only chunker_core/src: not dependencies, std, tests or the fuzz targets.
"$tools/llvm-cov" report "${objects[@]}" --instr-profile "$out/merged.profdata" \
  --ignore-filename-regex='(\.cargo/registry|/rustc/|/library/|chunker_fuzz_targets/|chunker_core/(tests|benches)/)' \
  2>/dev/null >"$log"
# Columns: file, regions, missed, cover, functions, missed, executed,
# lines, missed, cover, branches...
sed "s|$PWD/native/chunker_core/src/||" "$log" | awk '
  BEGIN { printf "%-28s %7s %7s %8s\n", "file", "lines", "missed", "cover" }
  $8 ~ /^[0-9]+$/ { printf "%-28s %7s %7s %8s\n", $1, $8, $9, $10 }'

read -r lines missed < <(awk '$1 == "TOTAL" {print $8, $9}' "$log")
pct=$(awk -v l="$lines" -v m="$missed" 'BEGIN {printf "%.1f", 100 * (l - m) / l}')
echo "coverage: chunker_core lines $pct% ($((lines - missed))/$lines), minimum $min%"
awk -v p="$pct" -v m="$min" 'BEGIN {exit !(p + 0 >= m + 0)}' || {
  echo "coverage: chunker_core is under $min%"
  exit 1
}
