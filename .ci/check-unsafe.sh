#!/usr/bin/env bash
# Fails if an `unsafe { }` block or `unsafe impl` in our Rust sources
# (native/, build output excluded) has no `// SAFETY:` comment on its line or
# in the comments above it (through attributes and the start of a statement
# split over lines). `unsafe fn` declarations are contracts, not blocks, and
# are not checked. Lists every unsafe site it finds.
#   .ci/check-unsafe.sh [dir...]     default: native
#   .ci/check-unsafe.sh --self-test  checks that a bare unsafe is caught
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--self-test" ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  printf 'fn ok() {\n    // SAFETY: a null check is all it takes.\n    let _ = unsafe { f() };\n}\n' >"$dir/good.rs"
  printf 'fn bad() {\n    // unsafe_code is fine in comments\n    let s = "unsafe";\n    let _ = unsafe { f() };\n}\n' >"$dir/bad.rs"
  printf '// SAFETY: covers only the next statement.\nlet a = unsafe { f() };\nlet b =\n    unsafe { g() };\n' >"$dir/bad2.rs"
  printf '// SAFETY: split statement.\nlet b =\n    unsafe { g() };\n' >"$dir/good2.rs"
  "$0" "$dir/good2.rs" >/dev/null || { echo "self-test: a split documented statement was rejected"; exit 1; }
  if "$0" "$dir/bad2.rs" >/dev/null 2>&1; then echo "self-test: SAFETY leaked to a later statement"; exit 1; fi
  "$0" "$dir/good.rs" >/dev/null || { echo "self-test: a documented unsafe was rejected"; exit 1; }
  if "$0" "$dir/bad.rs" >/dev/null 2>&1; then echo "self-test: a bare unsafe passed"; exit 1; fi
  echo "check-unsafe self-test: ok"
  exit 0
fi

[ $# -gt 0 ] || set -- native
files=$(find "$@" -name '*.rs' -not -path '*/target/*' | sort)
# shellcheck disable=SC2086
awk '
  FNR == 1 { documented = 0 }
  {
    line = $0
    trimmed = line; sub(/^[ \t]+/, "", trimmed)
    is_comment = (trimmed ~ /^\/\//)
    is_attr = (trimmed ~ /^#!?\[/)
    if (trimmed ~ /SAFETY:/ || trimmed ~ /^\/\/\/ *# Safety/) documented = 1
    code = line
    sub(/\/\/.*/, "", code)                # drop trailing comments
    gsub(/"([^"\\]|\\.)*"/, "\"\"", code)  # drop string literals
    if (!is_comment && code ~ /(^|[^A-Za-z0-9_])unsafe[ \t]*(\{|impl([^A-Za-z0-9_]|$)|$)/) {
      total++
      if (documented || line ~ /SAFETY:/) {
        printf "ok   %s:%d: %s\n", FILENAME, FNR, trimmed
      } else {
        printf "FAIL %s:%d: unsafe without a // SAFETY: comment: %s\n", FILENAME, FNR, trimmed
        bad++
      }
    }
    # A comment run (and attributes) carries SAFETY: down to the next code
    # line, and on through lines that continue a statement (`let x =`, `(`...).
    sub(/[ \t]+$/, "", code)
    if (!is_comment && !is_attr && trimmed != "" && code ~ /[;{}]$/) documented = 0
  }
  END {
    printf "unsafe audit: %d unsafe site(s), %d without a SAFETY comment\n", total, bad
    exit (bad > 0)
  }
' $files
