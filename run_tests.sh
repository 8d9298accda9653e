#!/usr/bin/env bash
# Install what the tests need (.venv/, created on first use) and run the whole test suite.
set -e
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
exec python -m pytest -q "$@" tests
