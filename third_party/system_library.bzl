"""A repository that exposes only the listed system paths of a Debian -dev package.

Symlinking just these paths (instead of new_local_repository over /usr) keeps
`bazel query @absl//...` small, and a missing package fails with the name of
the Debian package to install instead of a confusing compile error.
"""

def _system_library_impl(rctx):
    for src, dst in rctx.attr.paths.items():
        path = rctx.path(src)
        if not path.exists:
            fail("%s is missing: install the Debian package %s (run tools/bootstrap)" %
                 (src, rctx.attr.package))
        rctx.symlink(path, dst)

    linkopts = []
    if rctx.attr.link_glob:
        # Shared libraries named by the glob, e.g. all 64 libabsl_*.so files.
        result = rctx.execute(["sh", "-c", "cd %s && ls %s" % (rctx.attr.lib_dir, rctx.attr.link_glob)])
        if result.return_code != 0:
            fail("no %s in %s: install the Debian package %s (run tools/bootstrap)" %
                 (rctx.attr.link_glob, rctx.attr.lib_dir, rctx.attr.package))
        for name in sorted(result.stdout.strip().split("\n")):
            linkopts.append("-l" + name[len("lib"):-len(".so")])
    rctx.file("linkopts.bzl", "LINKOPTS = %s\n" % repr(linkopts))
    rctx.file("WORKSPACE", "workspace(name = \"%s\")\n" % rctx.name)
    rctx.template("BUILD.bazel", rctx.attr.build_file)

system_library = repository_rule(
    implementation = _system_library_impl,
    attrs = {
        "build_file": attr.label(mandatory = True, allow_single_file = True),
        "lib_dir": attr.string(default = "/usr/lib/x86_64-linux-gnu"),
        "link_glob": attr.string(),
        "package": attr.string(mandatory = True),
        "paths": attr.string_dict(mandatory = True),
    },
    local = True,
)
