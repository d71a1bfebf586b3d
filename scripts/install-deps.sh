#!/usr/bin/env bash
# Installs what evalverse needs on a fresh Debian 12 machine (run as root, or with sudo available).
# Idempotent: skips apt when every package is already installed.
set -euo pipefail

PKGS=(
  # build
  pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  # run: test sources, convert/scale, appsink, opus, decodebin
  gstreamer1.0-plugins-base
  # run: udpsrc/udpsink, rtp (de)payloaders, rtpbin, mp4 mux/demux
  gstreamer1.0-plugins-good
  # run: x264enc (demo and test senders)
  gstreamer1.0-plugins-ugly
  # run: avdec_h264, avdec_aac
  gstreamer1.0-libav
  # h264parse, fdk/faac-free AAC encoder (avenc_aac comes from libav), misc
  gstreamer1.0-plugins-bad
  # gst-launch-1.0 / gst-inspect-1.0
  gstreamer1.0-tools
  # software Vulkan (lavapipe) for the wgpu correctness path on machines without a GPU
  mesa-vulkan-drivers
  # the scorecard and benches/compare.sh use ffmpeg
  ffmpeg
  # promtool + prometheus server for the monitoring tests
  prometheus
  ca-certificates curl python3
  # a venv for kubernetes-validate (tests/kubernetes.rs)
  python3-venv
  # headless rendering of `evalverse report` pages (tests/report.rs)
  chromium
  # speech for the lip-sync tests and the sweep's speech family (tests/sync_local.rs)
  espeak-ng
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Rust toolchain (the project's MSRV follows burn 0.22: 1.95)
if ! command -v cargo >/dev/null 2>&1; then
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
  # shellcheck disable=SC1091
  . "$HOME/.cargo/env"
fi
