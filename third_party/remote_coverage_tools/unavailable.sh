#!/bin/sh
echo "coverage tools are not available offline: bazel coverage is unsupported in this workspace" >&2
exit 1
