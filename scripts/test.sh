#!/usr/bin/env bash
# Installs what the tests need (Debian 12, as root) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# One profile (release) for tests, runs and benches.
# shellcheck source=scripts/env.sh
. ./scripts/env.sh
cargo test --release --workspace --locked
# Accuracy on real clips, when the development media are present.
MEDIA="${EVALVERSE_MEDIA:-../shared/media}"
SCORECARD="${EVALVERSE_SCORECARD:-../shared/scorecard/scorecard.py}"
if [ -f "$MEDIA/manifest.json" ] && [ -f "$SCORECARD" ]; then
  python3 "$SCORECARD" --bin "$CARGO_TARGET_DIR/release/evalverse" --media "$MEDIA" --work "$(mktemp -d)"
fi
