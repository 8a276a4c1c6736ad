#!/bin/bash
# Emulates OSS-Fuzz's "build_fuzzers + check_build + a short run" on this
# machine, without Docker: the environment of an OSS-Fuzz ASan+UBSan
# libFuzzer build (clang-14 here), build.sh with Debian's system libraries,
# then every target checked and run for a few seconds on its own seed corpus
# with its dictionary and options. Ends with a summary; exits non-zero on any
# failure.
#
#   fuzz/oss-fuzz/check_local.sh                # everything
#   CHECK_SECONDS=10 fuzz/oss-fuzz/check_local.sh
#   CHECK_KEEP=/tmp/ossfuzz fuzz/oss-fuzz/check_local.sh
#       keep (and reuse) $WORK and $OUT there: a second run only recompiles
#       what changed
#   CHECK_NO_BAZEL=1 ...                        # skip the list check
#
# Differences from real OSS-Fuzz (see docs/fuzzing.md): no Docker, Debian's
# uninstrumented, dynamically linked Abseil/Botan (STARLING_DEPS=system)
# instead of static ones built from source, libstdc++ instead of
# -stdlib=libc++, clang-14 instead of OSS-Fuzz's clang, and ASan and UBSan in
# one build (OSS-Fuzz builds them separately).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD

CHECK_SECONDS=${CHECK_SECONDS:-3}
JOBS=${JOBS:-2}
start=$(date +%s)
failures=()
note_fail() {
  failures+=("$1")
  echo "check_local: FAIL: $1"
}

# ---------------------------------------------------------------------------
# 1. build.sh's lists against Bazel (the lists are hand-kept: this is what
#    stops them going stale silently).
if [[ -z ${CHECK_NO_BAZEL:-} ]] && command -v bazel >/dev/null; then
  echo "== build.sh lists vs bazel query"
  q='attr(tags, "fuzz_target", tests(//...))'
  if targets=$(bazel query "$q" 2>/dev/null | sort) &&
    srcs=$(bazel query "labels(srcs, $q)" 2>/dev/null) &&
    deps=$(bazel query "kind(\"source file\", deps($q))" 2>/dev/null); then
    label_to_path() { sed -E 's|^//([^:]*):|\1/|; s|^/||'; }
    want_targets=$(sed 's|^//||' <<<"$targets" | sort)
    have_targets=$(fuzz/oss-fuzz/build.sh --print-targets | sort)
    own=$(label_to_path <<<"$srcs" | sort)
    want_sources=$(grep -E '^//[^@].*\.cc$' <<<"$deps" | label_to_path | sort |
      comm -23 - <(printf '%s\nfuzz/replay_main.cc\n' "$own" | sort))
    have_sources=$(fuzz/oss-fuzz/build.sh --print-sources | sort)
    expected_own=$(fuzz/oss-fuzz/build.sh --print-targets | sed 's|:|/|; s|$|.cc|' | sort)
    ok=1
    if [[ $want_targets != "$have_targets" ]]; then
      echo "TARGETS in fuzz/oss-fuzz/build.sh differ from bazel query '$q' (< bazel, > build.sh):"
      diff <(echo "$want_targets") <(echo "$have_targets")
      ok=0
    fi
    if [[ $own != "$expected_own" ]]; then
      echo "fuzz target sources are not <package>/<name>.cc (< bazel, > build.sh):"
      diff <(echo "$own") <(echo "$expected_own")
      ok=0
    fi
    if [[ $want_sources != "$have_sources" ]]; then
      echo "LIBRARY_SOURCES in fuzz/oss-fuzz/build.sh differ from the fuzz targets' deps (< bazel, > build.sh):"
      diff <(echo "$want_sources") <(echo "$have_sources")
      echo "the list Bazel expects:"
      sed 's/^/  /' <<<"$want_sources"
      ok=0
    fi
    if [[ $ok -eq 1 ]]; then
      echo "check_local: lists match bazel query ($(wc -l <<<"$have_targets") targets, $(wc -l <<<"$have_sources") library sources)"
    else
      note_fail "build.sh lists are stale"
    fi
  else
    note_fail "bazel query failed"
  fi
else
  echo "== build.sh lists vs bazel query: skipped (no bazel or CHECK_NO_BAZEL set)"
fi

# ---------------------------------------------------------------------------
# 2. The OSS-Fuzz environment, then build.sh.
if [[ -n ${CHECK_KEEP:-} ]]; then
  base=$CHECK_KEEP
  mkdir -p "$base"
else
  base=$(mktemp -d "${TMPDIR:-/tmp}/starling-ossfuzz.XXXXXX")
  trap 'rm -rf "$base"' EXIT
fi
export SRC=$base/src WORK=$base/work OUT=$base/out
mkdir -p "$SRC" "$WORK" "$OUT"
export CC=${CHECK_CC:-clang-14} CXX=${CHECK_CXX:-clang++-14}
# As OSS-Fuzz's address (+ undefined) build: compile/base-builder flags.
SANITIZER_FLAGS="-fsanitize=address -fsanitize-address-use-after-scope -fsanitize=undefined -fno-sanitize-recover=undefined"
COVERAGE_FLAGS="-fsanitize=fuzzer-no-link"
export CFLAGS="-O1 -fno-omit-frame-pointer -gline-tables-only $SANITIZER_FLAGS $COVERAGE_FLAGS"
export CXXFLAGS="$CFLAGS"
export LIB_FUZZING_ENGINE=-fsanitize=fuzzer
export STARLING_ROOT=$ROOT STARLING_DEPS=system JOBS
export FUZZING_ENGINE=libfuzzer SANITIZER=address ARCHITECTURE=x86_64

echo "== build.sh (CC=$CC, jobs=$JOBS, OUT=$OUT)"
build_start=$(date +%s)
if nice bash fuzz/oss-fuzz/build.sh >"$base/build.log" 2>&1; then
  echo "check_local: build.sh ok in $(($(date +%s) - build_start))s"
else
  tail -n 40 "$base/build.log"
  note_fail "build.sh failed (log: $base/build.log)"
fi

# ---------------------------------------------------------------------------
# 3. What OSS-Fuzz expects in $OUT, and a short run of each target.
echo "== targets (${CHECK_SECONDS}s each)"
declare -A result
mapfile -t targets < <(fuzz/oss-fuzz/build.sh --print-targets)
for t in "${targets[@]}"; do
  name=${t#*:}
  bin=$OUT/$name
  if [[ ! -x $bin ]]; then
    result[$name]="missing binary"
    note_fail "$name: no executable $bin"
    continue
  fi
  if [[ ! -s $OUT/${name}_seed_corpus.zip ]]; then
    result[$name]="missing seed corpus zip"
    note_fail "$name: no ${name}_seed_corpus.zip"
    continue
  fi
  if [[ ! -s $OUT/$name.options ]]; then
    result[$name]="missing options"
    note_fail "$name: no $name.options"
    continue
  fi
  # As OSS-Fuzz's bad_build_check: the binary must be a libFuzzer target.
  if ! grep -q LLVMFuzzerTestOneInput "$bin"; then
    result[$name]="not a fuzz target"
    note_fail "$name: no LLVMFuzzerTestOneInput in $bin"
    continue
  fi
  run=$WORK/run-$name
  rm -rf "$run"
  mkdir -p "$run/seeds" "$run/corpus"
  unzip -q -o "$OUT/${name}_seed_corpus.zip" -d "$run/seeds"
  seeds=$(find "$run/seeds" -type f | wc -l)
  # [libfuzzer] options -> flags, the way OSS-Fuzz's run_fuzzer does.
  flags=()
  while IFS='=' read -r key value; do
    key=${key// /} value=${value// /}
    [[ -z $key || $key == \[* || $key == \#* ]] && continue
    flags+=("-$key=$value")
  done <"$OUT/$name.options"
  [[ -f $OUT/$name.dict ]] && flags+=("-dict=$OUT/$name.dict")
  log=$WORK/run-$name.log
  if (cd "$run" && timeout $((CHECK_SECONDS + 120)) nice "$bin" "${flags[@]}" \
    -max_total_time="$CHECK_SECONDS" -timeout=25 -rss_limit_mb=2560 \
    -print_final_stats=1 corpus seeds) >"$log" 2>&1; then
    runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$')
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -n 1 | grep -oE '[0-9]+')
    result[$name]="ok: $seeds seeds, ${runs:-?} runs, cov ${cov:-?}, ${flags[*]##*/}"
  else
    result[$name]="FAILED (log: $log)"
    tail -n 40 "$log"
    note_fail "$name: fuzzing run failed"
  fi
done

# ---------------------------------------------------------------------------
echo "== summary"
for t in "${targets[@]}"; do
  name=${t#*:}
  printf '  %-24s %s\n' "$name" "${result[$name]:-not run}"
done
elapsed=$(($(date +%s) - start))
if [[ ${#failures[@]} -eq 0 ]]; then
  echo "check_local: OK: ${#targets[@]} targets built and ran (${elapsed}s)"
  exit 0
fi
echo "check_local: FAILED: ${#failures[@]} problem(s) (${elapsed}s):"
printf '  - %s\n' "${failures[@]}"
[[ -n ${CHECK_KEEP:-} ]] || trap - EXIT  # keep the logs
echo "check_local: logs kept in $base"
exit 1
