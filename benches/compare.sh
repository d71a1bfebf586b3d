#!/usr/bin/env bash
# Side-by-side wall-clock comparison on the same files (median of RUNS interleaved runs, whole
# process):
#   bare ffmpeg decode (`ffmpeg -i X -f null -`, the fastest decode here) · bare GStreamer
#   decode (uridecodebin, as evalverse's file pipeline, into fakesinks: the floor any
#   GStreamer-based reader pays) · the same with a videoscale to 160 px · evalverse eval ·
#   PySceneDetect detect-adaptive · ffmpeg scdet,freezedetect,blackdetect + silencedetect
# Prints a markdown table. Usage: benches/compare.sh [REAL_CLIP ...]
# Env: RUNS (default 3), EVALVERSE (binary), WORK (scratch dir).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/evalverse-target}"
EVALVERSE="${EVALVERSE:-$CARGO_TARGET_DIR/release/evalverse}"
WORK="${WORK:-/tmp/evalverse-compare}"
mkdir -p "$WORK"
[ -x "$EVALVERSE" ] || cargo build --release --locked --bin evalverse >&2

# PySceneDetect from PyPI, in a venv of its own.
if [ ! -x "$WORK/venv/bin/scenedetect" ]; then
  python3 -m venv "$WORK/venv" >&2
  "$WORK/venv/bin/pip" install -q "scenedetect[opencv-headless]==0.6.4" >&2
fi

# Generated 60 s H.264 + AAC clips (moving test pattern, tone): 720p30 at ~3 Mb/s, 1080p30 at ~8.
gen() { # size bitrate name
  [ -f "$WORK/$3" ] || ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=$1:rate=30" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000" -t 60 -c:v libx264 -preset veryfast -b:v "$2" \
    -maxrate "$2" -bufsize "$2" -pix_fmt yuv420p -c:a aac -b:a 128k "$WORK/$3"
}
gen 1280x720 3M gen-720p30-3M.mp4
gen 1920x1080 8M gen-1080p30-8M.mp4
CLIPS=("$WORK/gen-720p30-3M.mp4" "$WORK/gen-1080p30-8M.mp4" "$@")

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
seconds() { # command... → wall seconds of one run
  local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; t1=$(date +%s.%N)
  echo "$t1 - $t0" | bc -l
}

floor() {
  gst-launch-1.0 -q uridecodebin uri="file://$(realpath "$1")" name=d \
    d. ! fakesink sync=false d. ! fakesink sync=false
}
decode() {
  local uri; uri="file://$(realpath "$1")"
  gst-launch-1.0 -q uridecodebin uri="$uri" name=d \
    d. ! queue ! videoscale ! video/x-raw,width=160,pixel-aspect-ratio=1/1 ! videoconvert ! video/x-raw,format=I420 ! fakesink sync=false \
    d. ! queue ! audioconvert ! audioresample ! audio/x-raw,format=F32LE,channels=1,rate=16000 ! fakesink sync=false
}
ffdetect() {
  if ffprobe -v error -select_streams a -show_entries stream=index -of csv=p=0 "$1" | grep -q .; then
    ffmpeg -nostdin -hide_banner -i "$1" -vf scdet,freezedetect,blackdetect -af silencedetect -f null -
  else
    ffmpeg -nostdin -hide_banner -i "$1" -vf scdet,freezedetect,blackdetect -f null -
  fi
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| clip | ffmpeg decode | GStreamer bare decode | GStreamer decode (160 px) | evalverse eval | eval / ffmpeg decode | GStreamer bare / ffmpeg decode | eval / GStreamer bare | eval / GStreamer decode (160 px) | ffmpeg 4 detectors | PySceneDetect adaptive |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
# Runs are interleaved (decodes, eval, ffmpeg, PySceneDetect, then again), so a noisy
# neighbour slows every tool alike; the median of each column is reported, and each ratio is
# the median of the per-round ratios.
for c in "${CLIPS[@]}"; do
  : >"$WORK/times"
  for _ in $(seq "$RUNS"); do
    b=$(seconds ffmpeg -nostdin -hide_banner -i "$c" -f null -)
    g=$(seconds floor "$c")
    d=$(seconds decode "$c")
    e=$(seconds "$EVALVERSE" eval "$c" --json)
    f=$(seconds ffdetect "$c")
    p=$(seconds "$WORK/venv/bin/scenedetect" -q -i "$c" detect-adaptive)
    echo "$d $e $f $p $(echo "$e / $d" | bc -l) $b $(echo "$e / $b" | bc -l) $g" \
      "$(echo "$g / $b" | bc -l) $(echo "$e / $g" | bc -l)" >>"$WORK/times"
  done
  col() { awk -v k="$1" '{print $k}' "$WORK/times" | median; }
  printf '| %s | %.2f s | %.2f s | %.2f s | %.2f s | %.2f× | %.2f× | %.2f× | %.2f× | %.2f s | %.2f s |\n' \
    "$(basename "$c")" "$(col 6)" "$(col 8)" "$(col 1)" "$(col 2)" "$(col 7)" "$(col 9)" "$(col 10)" \
    "$(col 5)" "$(col 3)" "$(col 4)"
done
