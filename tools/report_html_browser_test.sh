#!/bin/bash
# report.html in a real browser: mtasim writes it for the starter scenario,
# headless Chromium (Debian's, installed by tools/install-test-peers) loads
# it from a file:// URL, dumps the DOM and takes a screenshot. The page must
# load without errors and every timeline must have one series per outcome.
# Skips (passes) with one message when Chromium is not installed.
set -u
mtasim="$1"
scenario="$2"
chromium="${CHROMIUM:-/usr/bin/chromium}"
if [[ ! -x "$chromium" ]]; then
  echo "SKIP: $chromium not installed (tools/install-test-peers installs the chromium package)"
  exit 0
fi

work="${TEST_TMPDIR:-$(mktemp -d)}/report-html"
out="${TEST_UNDECLARED_OUTPUTS_DIR:-$work}"
mkdir -p "$work" "$out"
fail() { echo "FAIL: $*"; exit 1; }

"$mtasim" "$scenario" --report="$work/report" >"$work/mtasim.out" 2>&1 \
  || { cat "$work/mtasim.out"; fail "mtasim exited $?"; }
page="$work/report/report.html"
[[ -s "$page" ]] || fail "no report.html"
# Self-contained: nothing to fetch.
if grep -Eq '(src|href)="(https?:|//)' "$page" || grep -q '<script' "$page"; then
  fail "report.html refers to external assets or scripts"
fi

# Chromium's own flags for a quiet, offline, sandbox-free headless run.
browser() {
  HOME="$work/home" timeout 60 "$chromium" --headless --no-sandbox --disable-gpu \
    --disable-quic --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync --disable-dev-shm-usage \
    --user-data-dir="$work/profile" --enable-logging=stderr --v=0 "$@"
}
mkdir -p "$work/home"
browser --dump-dom "file://$page" >"$work/dom.html" 2>"$work/dump.log" \
  || { cat "$work/dump.log"; fail "chromium --dump-dom failed"; }
browser --screenshot="$out/report.png" --window-size=1280,2000 "file://$page" \
  >"$work/shot.out" 2>"$work/shot.log" \
  || { cat "$work/shot.log"; fail "chromium --screenshot failed"; }
[[ -s "$out/report.png" ]] || fail "no screenshot"
[[ "$(head -c 8 "$out/report.png" | od -An -tx1 | tr -d ' \n')" == "89504e470d0a1a0a" ]] \
  || fail "the screenshot is not a PNG"

# Load errors: the page's console, failed resources, network errors.
if grep -E 'CONSOLE|Failed to load resource|net::ERR_|Uncaught' "$work/dump.log" "$work/shot.log"; then
  fail "the page logged errors while loading"
fi

# The DOM as Chromium built it: the tables, and per timeline one polyline
# per outcome.
grep -q '<h1>mtasim report</h1>' "$work/dom.html" || fail "no heading in the DOM"
grep -q '<table class="domains">' "$work/dom.html" || fail "no per-domain table"
timelines=$(grep -o '<svg class="timeline"' "$work/dom.html" | wc -l)
domains=$(grep -c '^\[\[domain\]\]' "$scenario")
[[ "$timelines" -eq "$domains" ]] || fail "$timelines timelines for $domains domains"
for series in tls plaintext deferred bounced; do
  n=$(grep -o "<polyline class=\"series series-$series\"" "$work/dom.html" | wc -l)
  [[ "$n" -eq "$timelines" ]] || fail "$n '$series' series for $timelines timelines"
done
all=$(grep -o '<polyline class="series ' "$work/dom.html" | wc -l)
[[ "$all" -eq $((4 * timelines)) ]] || fail "$all series, want 4 per timeline"
faults=$(grep -o '<line class="fault"' "$work/dom.html" | wc -l)
[[ "$faults" -ge 2 ]] || fail "$faults fault markers, want the scenario's 2"
echo "ok: $timelines timelines, 4 series each, $faults fault markers; screenshot $out/report.png"
