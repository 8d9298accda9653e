#!/usr/bin/env bash
# The whole reproduction into results/ (default profile: cpu, about 65 minutes on 2 AVX-512 cores).
#   ./run_all.sh                               every experiment, default profile, into results/
#   ./run_all.sh --profile smoke --out DIR     the same at smoke scale into DIR (minutes)
#   ./run_all.sh --only table_auc              one experiment (trained models come from the cache)
# Creates .venv/ with the requirements on first use. Other options: python -m reproduce all --help
set -e
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
exec python -m reproduce all "$@"
