#!/usr/bin/env bash
# Runs the test suite (GoogleTest through ctest) against the build made by scripts/setup.sh.
set -euo pipefail
cd "$(dirname "$0")/../build"
ctest --output-on-failure -j "${MQA_TEST_JOBS:-2}" "$@"
