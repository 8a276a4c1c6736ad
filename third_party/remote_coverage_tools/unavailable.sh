#!/bin/sh
echo "coverage tools are not available offline; use the clang coverage script (docs/testing.md)" >&2
exit 1
