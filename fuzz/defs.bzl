"""starling_fuzz_test: one source, two builds.

Default config: a cc_test that replays the checked-in seed corpus through
LLVMFuzzerTestOneInput (so `bazel test //...` keeps every corpus input green).
--config=fuzz: the same target links libFuzzer and becomes a real fuzzer; its
test args are still the corpus files, which libFuzzer runs once each.
"""

load("@rules_cc//cc:defs.bzl", "cc_test")

def starling_fuzz_test(name, srcs, deps = [], corpus = None, dict = None, **kwargs):
    stem = name[:-len("_fuzzer")] if name.endswith("_fuzzer") else name
    corpus = corpus or native.glob(["corpus/%s/*" % stem])
    data = corpus + ([dict] if dict else [])
    cc_test(
        name = name,
        srcs = srcs,
        deps = deps + select({
            "//fuzz:libfuzzer": [],
            "//conditions:default": ["//fuzz:replay_main"],
        }),
        linkopts = select({
            "//fuzz:libfuzzer": ["-fsanitize=fuzzer"],
            "//conditions:default": [],
        }),
        args = ["$(location %s)" % f for f in corpus],
        data = data,
        tags = ["fuzz_target"],
        **kwargs
    )
