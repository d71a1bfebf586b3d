#!/usr/bin/env bash
# Installs what the tests need (Debian 12, as root) and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
# One profile (release) for tests, runs and benches.
# shellcheck source=scripts/env.sh
. ./scripts/env.sh
# Offline Kubernetes schemas (PyPI) for tests/kubernetes.rs, in a venv of their own.
VENV="$HOME/.cache/evalverse-venv"
[ -x "$VENV/bin/kubernetes-validate" ] || {
  python3 -m venv "$VENV" && "$VENV/bin/pip" install -q "kubernetes-validate==1.37.0"
}
cargo test --release --workspace --locked
# Accuracy on real clips, when the development media are present.
MEDIA="${EVALVERSE_MEDIA:-../shared/media}"
SCORECARD="${EVALVERSE_SCORECARD:-../shared/scorecard/scorecard.py}"
if [ -f "$MEDIA/manifest.json" ] && [ -f "$SCORECARD" ]; then
  python3 "$SCORECARD" --bin "$CARGO_TARGET_DIR/release/evalverse" --media "$MEDIA" --work "$(mktemp -d)"
fi
