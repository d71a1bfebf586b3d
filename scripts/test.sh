#!/usr/bin/env bash
# Installs what the tests need (Debian 12, as root) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
# One build profile (release) for tests, runs and benches; the target dir lives outside the
# clone so CI and later runs reuse it.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/evalverse-target}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/evalverse-xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
cargo test --release --workspace --locked
# Accuracy on real clips, when the development media are present.
MEDIA="${EVALVERSE_MEDIA:-../shared/media}"
SCORECARD="${EVALVERSE_SCORECARD:-../shared/scorecard/scorecard.py}"
if [ -f "$MEDIA/manifest.json" ] && [ -f "$SCORECARD" ]; then
  python3 "$SCORECARD" --bin "$CARGO_TARGET_DIR/release/evalverse" --media "$MEDIA" --work "$(mktemp -d)"
fi
