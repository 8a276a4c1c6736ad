#!/bin/bash -eu
set -euo pipefail
# OSS-Fuzz build script for Starling: compiles every fuzz target WITHOUT Bazel
# from $CC/$CXX/$CFLAGS/$CXXFLAGS/$LIB_FUZZING_ENGINE into $OUT/<target>, with
# $OUT/<target>_seed_corpus.zip, $OUT/<target>.dict (when the target has one)
# and $OUT/<target>.options. See docs/fuzzing.md.
#
#   OSS-Fuzz:  run by `infra/helper.py build_fuzzers starling` (Dockerfile).
#   Locally:   fuzz/oss-fuzz/check_local.sh (sets the same variables).
#   Lists:     build.sh --print-targets | --print-sources  (check_local.sh
#              compares them with `bazel query`, so they cannot go stale
#              silently).
#
# Dependencies (STARLING_DEPS):
#   source  Abseil, Botan 2 and toml++ checked out under $SRC by the
#           Dockerfile, built here as static libraries with the same
#           compiler and flags (instrumented, and present at run time: the
#           OSS-Fuzz runner image has none of the builder's packages).
#   system  Debian's -dev packages (libabsl-dev, libbotan-2-dev,
#           libtomlplusplus-dev) linked dynamically: check_local.sh on a
#           development machine. Not instrumented.
#   Default: source when $SRC/abseil-cpp exists, else system.

# ---------------------------------------------------------------------------
# The fuzz targets: "<package> <name>"; the source is <package>/<name>.cc and
# the seed corpus <package>/corpus/<name minus _fuzzer>/. Must equal
#   bazel query 'attr(tags, "fuzz_target", tests(//...))'
TARGETS=(
  "fuzz client_session_fuzzer"
  "fuzz command_fuzzer"
  "fuzz ehlo_fuzzer"
  "fuzz line_reader_fuzzer"
  "fuzz reply_fuzzer"
  "fuzz server_session_fuzzer"
  "fuzz/capi capi_fuzzer"
  "fuzz/policy postfix_import_fuzzer"
  "fuzz/policy sts_policy_fuzzer"
  "fuzz/policy sts_txt_fuzzer"
  "fuzz/policy table_parser_fuzzer"
  "fuzz/policy tlsa_fuzzer"
  "fuzz/sim scenario_fuzzer"
  "fuzz/sim world_fuzzer"
  "fuzz/tls channel_fuzzer"
)

# Library sources the targets need (compiled once into libstarling.a). Must
# equal the .cc files of
#   bazel query 'kind("source file", deps(attr(tags, "fuzz_target", tests(//...))))'
# minus the targets' own sources and fuzz/replay_main.cc.
LIBRARY_SOURCES=(
  core/capi/starling.cc
  core/policy/dane.cc
  core/policy/engine.cc
  core/policy/hook.cc
  core/policy/large_array.cc
  core/policy/level.cc
  core/policy/mta_sts.cc
  core/policy/names.cc
  core/policy/policy_entry.cc
  core/policy/postfix_import.cc
  core/policy/table.cc
  core/smtp/capabilities.cc
  core/smtp/client_session.cc
  core/smtp/client_transitions.cc
  core/smtp/command.cc
  core/smtp/dot_stuffing.cc
  core/smtp/line_reader.cc
  core/smtp/reply.cc
  core/smtp/server_session.cc
  core/smtp/server_transitions.cc
  core/smtp/session_error.cc
  core/smtp/text.cc
  core/smtp/tls_policy_hook.cc
  core/starttls/connection.cc
  core/starttls/tls_pipe.cc
  core/tls/channel.cc
  core/tls/credentials.cc
  core/tls/facts.cc
  core/tls/policy_bridge.cc
  core/tls/rng.cc
  core/tls/testing/test_pki.cc
  sim/attacker.cc
  sim/dns.cc
  sim/invariants.cc
  sim/link.cc
  sim/partner.cc
  sim/random.cc
  sim/scenario.cc
  sim/scheduler.cc
  sim/sender.cc
  sim/smtp_endpoint.cc
  sim/swarm.cc
  sim/world.cc
)

# libFuzzer max_len per target (default 4096): room for a whole TLS record
# flight, an SMTP session with a message, a scenario file.
max_len_of() {
  case $1 in
    channel_fuzzer) echo 16384 ;;
    client_session_fuzzer | server_session_fuzzer | scenario_fuzzer | capi_fuzzer) echo 8192 ;;
    *) echo 4096 ;;
  esac
}

# The dictionary of a target: <package>/<stem>.dict, else <package>/smtp.dict
# (the SMTP targets of fuzz/), else none. The same rule as .ci/run.
dict_of() {
  local pkg=$1 stem=${2%_fuzzer}
  if [[ -f $ROOT/$pkg/$stem.dict ]]; then
    echo "$ROOT/$pkg/$stem.dict"
  elif [[ -f $ROOT/$pkg/smtp.dict ]]; then
    echo "$ROOT/$pkg/smtp.dict"
  fi
}

case ${1:-} in
  --print-targets)
    for t in "${TARGETS[@]}"; do echo "${t% *}:${t#* }"; done
    exit 0
    ;;
  --print-sources)
    printf '%s\n' "${LIBRARY_SOURCES[@]}"
    exit 0
    ;;
  "") ;;
  *)
    echo "usage: $0 [--print-targets | --print-sources]" >&2
    exit 2
    ;;
esac

# ---------------------------------------------------------------------------
: "${CC:?}" "${CXX:?}" "${LIB_FUZZING_ENGINE:?}" "${OUT:?}" "${WORK:?}"
CFLAGS=${CFLAGS:-}
CXXFLAGS=${CXXFLAGS:-}
SRC=${SRC:-/src}
JOBS=${JOBS:-$(nproc)}
AR=${AR:-ar}

# The checkout: STARLING_ROOT, else the repository this script sits in, else
# $SRC/starling (OSS-Fuzz copies build.sh to $SRC/build.sh).
if [[ -z ${STARLING_ROOT:-} ]]; then
  here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  if [[ -f $here/../../core/smtp/command.h ]]; then
    STARLING_ROOT=$(cd "$here/../.." && pwd)
  else
    STARLING_ROOT=$SRC/starling
  fi
fi
ROOT=$STARLING_ROOT
[[ -f $ROOT/core/smtp/command.h ]] || {
  echo "build.sh: no Starling checkout at $ROOT (set STARLING_ROOT)" >&2
  exit 1
}

if [[ -z ${STARLING_DEPS:-} ]]; then
  if [[ -d $SRC/abseil-cpp ]]; then STARLING_DEPS=source; else STARLING_DEPS=system; fi
fi

mkdir -p "$OUT" "$WORK"
DEPS=$WORK/deps
INCLUDES=(-I"$ROOT")
LIBS=()

build_deps_from_source() {
  # toml++ 3.3.0: header-only.
  INCLUDES+=(-I"$SRC/tomlplusplus/include")

  # Abseil 20220623 as Debian configures it: ABSL_OPTION_USE_STD_* = 0, so
  # absl::string_view/optional/variant are Abseil's own types (the code is
  # written against Debian's Abseil, where they are not the std types).
  if [[ ! -f $DEPS/.abseil-done ]]; then
    sed -i -E 's/^#define (ABSL_OPTION_USE_STD_[A-Z_]+) 2$/#define \1 0/' \
      "$SRC/abseil-cpp/absl/base/options.h"
    cmake -S "$SRC/abseil-cpp" -B "$WORK/abseil-build" -G "Unix Makefiles" \
      -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER="$CC" \
      -DCMAKE_CXX_COMPILER="$CXX" -DCMAKE_C_FLAGS="$CFLAGS" \
      -DCMAKE_CXX_FLAGS="$CXXFLAGS" -DCMAKE_CXX_STANDARD=20 \
      -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DBUILD_SHARED_LIBS=OFF \
      -DBUILD_TESTING=OFF -DABSL_PROPAGATE_CXX_STD=ON \
      -DCMAKE_INSTALL_PREFIX="$DEPS" -DCMAKE_INSTALL_LIBDIR=lib
    cmake --build "$WORK/abseil-build" -j "$JOBS"
    cmake --install "$WORK/abseil-build"
    touch "$DEPS/.abseil-done"
  fi

  # Botan 2.19, static. The locking allocator (mlock) is off: fuzzers run
  # with an RLIMIT_MEMLOCK that would make it fall back anyway.
  if [[ ! -f $DEPS/.botan-done ]]; then
    (
      cd "$SRC/botan"
      python3 configure.py --cc=clang --cc-bin="$CXX" \
        --cc-abi-flags="$CXXFLAGS" --disable-shared-library \
        --build-targets=static --without-documentation \
        --disable-modules=locking_allocator --prefix="$DEPS" \
        --with-build-dir="$WORK/botan-build"
      make -j "$JOBS"
      make install
    )
    touch "$DEPS/.botan-done"
  fi
  INCLUDES+=(-I"$DEPS/include" -I"$DEPS/include/botan-2")
  # Static archives in any order.
  LIBS+=(-Wl,--start-group "$DEPS"/lib/libabsl_*.a "$DEPS/lib/libbotan-2.a"
    -Wl,--end-group -lpthread)
}

use_system_deps() {
  local lib_dir=/usr/lib/x86_64-linux-gnu
  for need in /usr/include/absl/base/options.h /usr/include/botan-2/botan/tls_channel.h \
    /usr/include/toml++/toml.h; do
    [[ -f $need ]] || {
      echo "build.sh: $need missing (apt-get install libabsl-dev libbotan-2-dev libtomlplusplus-dev)" >&2
      exit 1
    }
  done
  INCLUDES+=(-I/usr/include/botan-2)
  local so
  for so in "$lib_dir"/libabsl_*.so; do
    so=${so##*/lib}
    LIBS+=("-l${so%.so}")
  done
  LIBS+=(-lbotan-2 -lpthread)
}

case $STARLING_DEPS in
  source) build_deps_from_source ;;
  system) use_system_deps ;;
  *)
    echo "build.sh: STARLING_DEPS must be source or system" >&2
    exit 2
    ;;
esac

# ---------------------------------------------------------------------------
# Compile: one generated Makefile (parallel, -MMD header dependencies, so a
# reused $WORK only rebuilds what changed), library objects into one static
# archive, one link per target.
OBJ=$WORK/obj
MK=$WORK/starling.mk
mkdir -p "$OBJ"
{
  echo "# Generated by fuzz/oss-fuzz/build.sh"
  echo ".SUFFIXES:"
  echo "LIB_OBJS :="
  for src in "${LIBRARY_SOURCES[@]}"; do
    echo "LIB_OBJS += \$(OBJ)/${src%.cc}.o"
  done
  echo "FUZZERS :="
  for t in "${TARGETS[@]}"; do
    pkg=${t% *} name=${t#* }
    echo "FUZZERS += \$(OUT)/$name"
    echo "\$(OUT)/$name: \$(OBJ)/$pkg/$name.o \$(OBJ)/libstarling.a"
    printf '\t$(CXX) $(STARLING_CXXFLAGS) $< -o $@ $(LIB_FUZZING_ENGINE) $(OBJ)/libstarling.a $(LIBS)\n'
  done
  cat <<'EOF'
all: $(FUZZERS)
$(OBJ)/%.o: $(ROOT)/%.cc $(OBJ)/flags.stamp
	@mkdir -p $(@D)
	$(CXX) $(STARLING_CXXFLAGS) $(INCLUDES) -MMD -MP -c $< -o $@
$(OBJ)/libstarling.a: $(LIB_OBJS)
	rm -f $@
	$(AR) rcs $@ $^
-include $(shell find $(OBJ) -name '*.d' 2>/dev/null)
EOF
} >"$MK.new"

# C++20 like the Bazel build (.bazelrc); no -Werror (compilers differ).
STARLING_CXXFLAGS="$CXXFLAGS -std=c++20"

# A reused $WORK recompiles everything when the compiler, the flags or this
# script's rules change.
printf '%s\n' "$CXX" "$STARLING_CXXFLAGS" "${INCLUDES[*]}" "$LIB_FUZZING_ENGINE" \
  "${LIBS[*]}" | cat - "$MK.new" >"$OBJ/flags.stamp.new"
if cmp -s "$OBJ/flags.stamp.new" "$OBJ/flags.stamp"; then
  rm "$OBJ/flags.stamp.new"
else
  mv "$OBJ/flags.stamp.new" "$OBJ/flags.stamp"
fi
mv "$MK.new" "$MK"

echo "build.sh: ${#TARGETS[@]} targets, ${#LIBRARY_SOURCES[@]} library sources, deps=$STARLING_DEPS, jobs=$JOBS"
make -f "$MK" -j "$JOBS" \
  ROOT="$ROOT" OBJ="$OBJ" OUT="$OUT" CXX="$CXX" AR="$AR" \
  STARLING_CXXFLAGS="$STARLING_CXXFLAGS" INCLUDES="${INCLUDES[*]}" \
  LIB_FUZZING_ENGINE="$LIB_FUZZING_ENGINE" LIBS="${LIBS[*]}" all

# ---------------------------------------------------------------------------
# Seed corpora, dictionaries, options.
for t in "${TARGETS[@]}"; do
  pkg=${t% *} name=${t#* }
  stem=${name%_fuzzer}
  corpus=$ROOT/$pkg/corpus/$stem
  rm -f "$OUT/${name}_seed_corpus.zip"
  if [[ -d $corpus ]] && compgen -G "$corpus/*" >/dev/null; then
    (cd "$corpus" && zip -q -X -j "$OUT/${name}_seed_corpus.zip" -- *)
  else
    echo "build.sh: warning: $name has no seed corpus ($corpus)" >&2
  fi
  dict=$(dict_of "$pkg" "$name")
  if [[ -n $dict ]]; then
    cp "$dict" "$OUT/$name.dict"
  else
    rm -f "$OUT/$name.dict"
  fi
  printf '[libfuzzer]\nmax_len = %s\n' "$(max_len_of "$name")" >"$OUT/$name.options"
done
echo "build.sh: done: ${#TARGETS[@]} fuzz targets in $OUT"
