# Shared by scripts/test.sh and scripts/demo.sh (sourced): installs what evalverse needs
# (Debian 12, as root), puts cargo on PATH, and sets the one build directory both use. It lives
# outside the clone so CI and later runs reuse it.
./scripts/install-deps.sh
# shellcheck disable=SC1091
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/evalverse-target}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/evalverse-xdg}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
