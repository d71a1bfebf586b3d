#!/usr/bin/env bash
# Installs what evalverse needs (Debian 12, as root), builds it and runs the live demo:
# a generated sequence streamed as RTP over loopback and evaluated as it arrives.
# Extra arguments go to `evalverse demo` (e.g. --duration 60 --json).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
. ./scripts/env.sh
# The same build as scripts/test.sh (`cargo test` builds the binary for the integration tests):
# `cargo build --bin` alone would resolve other features of the shared crates (the
# dev-dependencies change them) and rebuild most of the tree a second time.
cargo test --release --workspace --locked --no-run
exec "$CARGO_TARGET_DIR/release/evalverse" demo "$@"
