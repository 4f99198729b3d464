# Sourced by the project's scripts: one place for paths and the local AWS settings.
# shellcheck shell=bash
CLINIC_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CLINIC_ROOT
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/clinic/target}"
export CLINIC_VENV="${CLINIC_VENV:-$CLINIC_ROOT/.venv}"
export CLINIC_STATE_DIR="${CLINIC_STATE_DIR:-$CLINIC_ROOT/.local-state}"

# Every process that builds an AWS client here talks to the emulator only: dummy credentials, a
# fixed region, and no instance-metadata look-up (that address is not loopback).
export AWS_REGION="${AWS_REGION:-us-east-1}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-testing}"
export AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-testing}"
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN

# `--release` among a script's arguments picks optimised binaries (Cargo profile local-release)
# over debug ones: sets CLINIC_PROFILE (the Cargo profile), CLINIC_BIN_DIR (where its binaries
# are) and CLINIC_ARGS (the other arguments, in order).
clinic_profile_from_args() {
  CLINIC_PROFILE=dev
  CLINIC_BIN_DIR="$CARGO_TARGET_DIR/debug"
  CLINIC_ARGS=()
  local arg
  for arg in "$@"; do
    if [[ "$arg" == --release ]]; then
      CLINIC_PROFILE=local-release
      CLINIC_BIN_DIR="$CARGO_TARGET_DIR/local-release"
    else
      CLINIC_ARGS+=("$arg")
    fi
  done
}
