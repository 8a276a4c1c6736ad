#!/usr/bin/env bash
# A fuzzing campaign: every libFuzzer target (bazel --config=fuzz: clang 14,
# -c opt, ASan + UBSan) for MINUTES minutes each, JOBS targets at a time,
# starting from its checked-in seed corpus (kept read-only: new inputs go to a
# scratch corpus). Prints one Markdown table row per target: exec/s, final
# coverage (libFuzzer's cov: edges), features, scratch corpus size, and the
# crash file if any (copy it into the seed corpus as a regression input
# after fixing the bug: docs/fuzzing.md).
#
#   fuzz/campaign.sh [MINUTES=10] [JOBS=1] [target-pattern]
set -uo pipefail
cd "$(dirname "$0")/.."
minutes=${1:-10}
jobs=${2:-1}
pattern=${3:-.}
out=${CAMPAIGN_DIR:-$(mktemp -d /tmp/campaign.XXXXXX)}
mkdir -p "$out"

targets=$(bazel query 'attr(tags, "fuzz_target", tests(//...))' 2>/dev/null |
          grep -E -- "$pattern")
bazel build --config=fuzz $targets >"$out/build.log" 2>&1 ||
  { echo "campaign: build failed (see $out/build.log)" >&2; exit 1; }
bin=$(bazel info --config=fuzz bazel-bin 2>/dev/null)

run_one() {
  local target=$1 name pkg stem dict=() work
  name=${target##*:}
  pkg=${target#//}
  pkg=${pkg%%:*}
  stem=${name%_fuzzer}
  if [[ -f $pkg/$stem.dict ]]; then
    dict=(-dict="$pkg/$stem.dict")
  elif [[ -f $pkg/smtp.dict ]]; then
    dict=(-dict="$pkg/smtp.dict")
  fi
  work="$out/$name"
  mkdir -p "$work/corpus" "$work/artifacts"
  "$bin/$pkg/$name" "${dict[@]}" -max_total_time=$((minutes * 60)) \
      -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
      -artifact_prefix="$work/artifacts/" "$work/corpus" "$pkg/corpus/$stem" \
      >"$work/log" 2>&1
  local rc=$? runs secs execs cov ft crash
  runs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$work/log" | grep -oE '[0-9]+$')
  secs=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "$work/log" | grep -oE '[0-9]+$')
  cov=$(grep -oE ' cov: [0-9]+' "$work/log" | tail -1 | grep -oE '[0-9]+')
  ft=$(grep -oE ' ft: [0-9]+' "$work/log" | tail -1 | grep -oE '[0-9]+')
  crash=$(ls "$work/artifacts" 2>/dev/null | head -1)
  if [[ -n $crash ]]; then
    crash="CRASH $work/artifacts/$crash"
  else
    crash="none (exit $rc)"
  fi
  printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$target" "$minutes min" \
      "${runs:-?}" "${secs:-?}" "${cov:-?}" "${ft:-?}" \
      "$(ls "$work/corpus" | wc -l)" "$crash"
}
export -f run_one
export out bin minutes

echo "| target | time | runs | exec/s | cov (edges) | features | new corpus | crash |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
printf '%s\n' $targets | xargs -P "$jobs" -I{} bash -c 'run_one {}'
echo "campaign: logs in $out" >&2
