#!/usr/bin/env bash
# Runs fuzz targets with cargo-fuzz (libFuzzer) on the stable toolchain.
#
#   fuzz/run.sh TARGET SECONDS [libFuzzer flags...]
#   fuzz/run.sh all SECONDS [libFuzzer flags...]     every target in turn
#   fuzz/run.sh list                                 the targets
#
# e.g. fuzz/run.sh fields 60, or fuzz/run.sh response 3600 -runs=10000000
# (whichever comes first). One libFuzzer process, one core. The committed
# seeds (fuzz/corpus/TARGET/) are read, never written: what the fuzzer
# learns goes to fuzz/work/TARGET/ (ignored by git, reused by the next run).
# A crash (or leak, time-out, out-of-memory) fails the run and its input is
# moved to fuzz/regressions/TARGET/: fix the parser, commit that file, and
# `cargo test` replays it from then on (docs/FUZZING.md).
#
# Environment: CARGO_TARGET_DIR as usual; FUZZ_MAX_LEN (default 4096 bytes),
# FUZZ_RSS_MB (default 2048).
set -euo pipefail
cd "$(dirname "$0")"

# cargo-fuzz passes nightly-only flags; the stable compiler takes them with:
export RUSTC_BOOTSTRAP=1

TARGETS=(response notify terminal_json auth_header fields bill_csv bill_zip)
# Release build with debug assertions and overflow checks (-a); no
# sanitizer: the code is safe Rust (#![forbid(unsafe_code)]), and the C
# code (aws-lc, SQLite) is not instrumented by cargo-fuzz anyway.
BUILD_FLAGS=(-O -a -s none --codegen-units 16)

usage() {
  echo "usage: $0 TARGET|all SECONDS [libFuzzer flags...]   (targets: ${TARGETS[*]})" >&2
  exit 2
}

if [ "${1:-}" = "list" ]; then
  printf '%s\n' "${TARGETS[@]}"
  exit 0
fi
[ $# -ge 2 ] || usage
which=$1
secs=$2
shift 2
[[ "$secs" =~ ^[0-9]+$ ]] || usage
if [ "$which" = "all" ]; then
  run=("${TARGETS[@]}")
else
  found=""
  for t in "${TARGETS[@]}"; do [ "$t" = "$which" ] && found=1; done
  [ -n "$found" ] || usage
  run=("$which")
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2
  exit 2
fi

cargo fuzz build "${BUILD_FLAGS[@]}"

failed=()
for t in "${run[@]}"; do
  mkdir -p "work/$t" "artifacts/$t"
  echo "== fuzz $t for ${secs}s"
  set +e
  cargo fuzz run "${BUILD_FLAGS[@]}" "$t" "work/$t" "corpus/$t" -- \
    -max_total_time="$secs" -max_len="${FUZZ_MAX_LEN:-4096}" \
    -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout=10 -print_final_stats=1 "$@"
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    failed+=("$t")
    mkdir -p "regressions/$t"
    for f in artifacts/"$t"/*; do
      [ -f "$f" ] || continue
      mv "$f" "regressions/$t/"
      echo "!! $t: $(basename "$f") moved to fuzz/regressions/$t/ (replay: cargo test -p payswitch-fuzz-checks)"
    done
  fi
done

echo "fuzz: $(( ${#run[@]} - ${#failed[@]} )) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -gt 0 ]; then
  echo "!! failed: ${failed[*]}" >&2
  exit 1
fi
