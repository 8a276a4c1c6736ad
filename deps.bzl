"""starling_dependencies(): every repository a Starling build needs, offline.

A consumer's WORKSPACE needs three lines (docs/embedding.md):

    local_repository(name = "starling", path = "/path/to/starling")
    load("@starling//:deps.bzl", "starling_dependencies")
    starling_dependencies()

This repository's own WORKSPACE calls it too, so there is one definition.
Each repository is declared only when the WORKSPACE has not declared one of
that name already (a consumer with its own @rules_cc or @absl keeps it; it
must then provide the same targets, e.g. `@absl//:absl`). Labels are
Label()s, so they point into Starling wherever the consumer's workspace is.
"""

load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load("//third_party:system_library.bzl", "system_library")

def _tree_repository_impl(rctx):
    # The directory holding `marker`, mirrored as a repository: local_repository
    # paths are relative to the consumer's workspace, a Label is not.
    src = rctx.path(rctx.attr.marker).dirname
    for child in src.readdir():
        rctx.symlink(child, child.basename)

_tree_repository = repository_rule(
    implementation = _tree_repository_impl,
    attrs = {"marker": attr.label(mandatory = True, allow_single_file = True)},
    local = True,
)

def starling_dependencies():
    """Declares the offline stubs and the Debian system libraries."""

    # Bazel 4.2.3's own cc rules load @rules_cc; this re-exports the native rules.
    maybe(
        _tree_repository,
        name = "rules_cc",
        marker = Label("//third_party/rules_cc:WORKSPACE"),
    )

    # JDK toolchain registration needs @rules_java even for pure C++ builds.
    maybe(
        native.local_repository,
        name = "rules_java",
        path = "/usr/share/bazel/rules/java",
    )

    # Every *_test rule depends on coverage tools that Bazel would download.
    maybe(
        _tree_repository,
        name = "remote_coverage_tools",
        marker = Label("//third_party/remote_coverage_tools:WORKSPACE"),
    )

    # Debian -dev packages (tools/bootstrap installs them). A repository is
    # only fetched when a target being built needs it: the public targets
    # need absl and botan; gtest, rapidcheck and benchmark serve tests.
    maybe(
        system_library,
        name = "absl",
        build_file = Label("//third_party:absl.BUILD"),
        link_glob = "libabsl_*.so",
        package = "libabsl-dev",
        paths = {"/usr/include/absl": "include/absl"},
    )

    maybe(
        system_library,
        name = "botan",
        build_file = Label("//third_party:botan.BUILD"),
        package = "libbotan-2-dev",
        paths = {"/usr/include/botan-2": "include/botan-2"},
    )

    maybe(
        system_library,
        name = "gtest",
        build_file = Label("//third_party:gtest.BUILD"),
        package = "libgtest-dev and googletest",
        paths = {
            "/usr/include/gmock": "include/gmock",
            "/usr/include/gtest": "include/gtest",
        },
    )

    maybe(
        system_library,
        name = "rapidcheck",
        build_file = Label("//third_party:rapidcheck.BUILD"),
        package = "librapidcheck-dev",
        paths = {
            "/usr/include/rapidcheck": "include/rapidcheck",
            "/usr/include/rapidcheck.h": "include/rapidcheck.h",
        },
    )

    maybe(
        system_library,
        name = "benchmark",
        build_file = Label("//third_party:benchmark.BUILD"),
        package = "libbenchmark-dev",
        paths = {"/usr/include/benchmark": "include/benchmark"},
    )

    maybe(
        system_library,
        name = "nlohmann_json",
        build_file = Label("//third_party:nlohmann_json.BUILD"),
        package = "nlohmann-json3-dev",
        paths = {"/usr/include/nlohmann": "include/nlohmann"},
    )

    maybe(
        system_library,
        name = "tomlplusplus",
        build_file = Label("//third_party:tomlplusplus.BUILD"),
        package = "libtomlplusplus-dev",
        paths = {"/usr/include/toml++": "include/toml++"},
    )

    maybe(
        system_library,
        name = "unbound",
        build_file = Label("//third_party:unbound.BUILD"),
        package = "libunbound-dev",
        paths = {"/usr/include/unbound.h": "include/unbound.h"},
    )

    maybe(
        system_library,
        name = "curl",
        build_file = Label("//third_party:curl.BUILD"),
        package = "libcurl4-openssl-dev",
        paths = {"/usr/include/x86_64-linux-gnu/curl": "include/curl"},
    )

    maybe(
        system_library,
        name = "asio",
        build_file = Label("//third_party:asio.BUILD"),
        package = "libasio-dev",
        paths = {
            "/usr/include/asio": "include/asio",
            "/usr/include/asio.hpp": "include/asio.hpp",
        },
    )
