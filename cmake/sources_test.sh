#!/usr/bin/env bash
# Compares cmake/sources.cmake with the Bazel dependency closure of
# //core/capi (a genquery): the .cc files must be exactly those of the three
# CMake libraries, the .h files exactly the installed headers, and each
# library's sources must come from its own packages.
set -euo pipefail
closure=${1:?closure file}
sources=${2:?sources.cmake}

# Paths inside the `set(NAME ...)` block of sources.cmake.
list_of() {
  sed -n "/^set($1\$/,/^)/p" "$sources" | grep -E '^  [a-z]' | sed 's/^ *//' | sort
}
# Starling's own files of the closure (//pkg:file -> pkg/file).
bazel_files() {
  grep -E "^//core/[^:]*:.*\\.$1\$" "$closure" | sed -E 's|^//([^:]*):|\1/|' | sort
}

fail=0
compare() {
  local what=$1 want=$2 have=$3
  if [[ $want != "$have" ]]; then
    echo "FAIL: $what differ (< bazel, > cmake/sources.cmake):"
    diff <(echo "$want") <(echo "$have") || true
    fail=1
  fi
}
core=$(list_of STARLING_CORE_SOURCES)
tls=$(list_of STARLING_TLS_SOURCES)
c=$(list_of STARLING_C_SOURCES)
compare "sources" "$(bazel_files cc)" "$(printf '%s\n' "$core" "$tls" "$c" | sort)"
compare "headers" "$(bazel_files h)" "$(list_of STARLING_HEADERS)"

# Layering: core is Abseil + std only; Botan lives in tls.
check_dirs() {
  local name=$1 pattern=$2 files=$3 f
  for f in $files; do
    [[ $f =~ $pattern ]] || { echo "FAIL: $f does not belong in $name"; fail=1; }
  done
}
check_dirs STARLING_CORE_SOURCES '^core/(smtp|policy|tlsfacts)/' "$core"
check_dirs STARLING_TLS_SOURCES '^core/(tls|starttls)/' "$tls"
check_dirs STARLING_C_SOURCES '^core/capi/' "$c"

[[ $fail -eq 0 ]] || exit 1
echo "sources.cmake matches //core/capi: $(printf "%s\n" "$core" "$tls" "$c" | wc -l) sources, $(list_of STARLING_HEADERS | wc -l) headers"
