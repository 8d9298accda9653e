#!/usr/bin/env bash
# Install what the tests need (.venv/, created on first use) and run the whole test suite.
# Arguments go to pytest: ./run_tests.sh -m "not slow" leaves out the slow tests.
set -e
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
exec python -m pytest -q "$@" tests
