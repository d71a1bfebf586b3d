#!/usr/bin/env python3
"""Live load test: N real-time RTP senders (720p30 H.264 3 Mb/s + Opus, replayed from a
pre-encoded file, with RTCP) into one `evalverse serve`; reports per N: frames evaluated, frames
dropped, RTP packets lost, p99 latency from the arrival of a window's last frame (the hop
boundary) to the window's score, CPU and RSS of the evaluator. The largest N with zero drops and
p99 <= 100 ms past the hop boundary is the capacity.

    python3 benches/load.py --bin EVALVERSE [--n 4,8,12] [--seconds 40]

UDP receive buffers: the receiver asks for 4 MiB per RTP socket (udpsrc buffer-size); the kernel
caps that at net.core.rmem_max, so raise it first where you can:
    sysctl -w net.core.rmem_max=8388608
"""
import argparse, json, os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def clip(work, seconds, source=None):
    """The sender's file: testsrc2 and a tone, or SOURCE (e.g. a talking face) looped, scaled and
    padded to 1280x720 at 30 fps with its own sound."""
    tag = "" if source is None else "-" + os.path.splitext(os.path.basename(source))[0]
    path = os.path.join(work, f"load-720p30-3M-{int(seconds)}s{tag}.mkv")
    if source is not None and not os.path.exists(path):
        sh(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-stream_loop", "-1", "-i", source, "-t", str(int(seconds)),
            "-vf", "scale=1280:720:force_original_aspect_ratio=decrease,pad=1280:720:(ow-iw)/2:(oh-ih)/2,fps=30",
            "-af", "aresample=48000",
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-b:v", "3M", "-maxrate", "3M",
            "-bufsize", "3M", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "64k", path + ".part.mkv"])
        os.replace(path + ".part.mkv", path)
    if not os.path.exists(path):
        sh(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30",
            "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", str(int(seconds)),
            "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "30", "-b:v", "3M", "-maxrate", "3M",
            "-bufsize", "3M", "-pix_fmt", "yuv420p", "-c:a", "libopus", "-b:a", "64k", path + ".part.mkv"])
        os.replace(path + ".part.mkv", path)
    return path


def sender(path, vport, aport):
    desc = (f"rtpbin name=rtpbin filesrc location={path} ! matroskademux name=d "
            f"d.video_0 ! queue ! h264parse config-interval=-1 ! rtph264pay pt=96 config-interval=-1 ! rtpbin.send_rtp_sink_0 "
            f"rtpbin.send_rtp_src_0 ! udpsink host=127.0.0.1 port={vport} sync=true "
            f"rtpbin.send_rtcp_src_0 ! udpsink host=127.0.0.1 port={vport + 1} sync=false async=false "
            f"d.audio_0 ! queue ! opusparse ! rtpopuspay pt=97 ! rtpbin.send_rtp_sink_1 "
            f"rtpbin.send_rtp_src_1 ! udpsink host=127.0.0.1 port={aport} sync=true "
            f"rtpbin.send_rtcp_src_1 ! udpsink host=127.0.0.1 port={aport + 1} sync=false async=false")
    return subprocess.Popen(["gst-launch-1.0", "-q"] + desc.split(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        name_labels, value = line.rsplit(" ", 1)
        out[name_labels] = float(value)
    return out


def total(m, name, **labels):
    s = 0.0
    for k, v in m.items():
        if k.split("{")[0] == name and all(f'{a}="{b}"' in k for a, b in labels.items()):
            s += v
    return s


def p99(m, before, name, **labels):
    """p99 of a histogram over the interval between two scrapes (bucket deltas)."""
    buckets = {}
    for k, v in m.items():
        if k.startswith(name + "_bucket") and all(f'{a}="{b}"' in k for a, b in labels.items()):
            le = re.search(r'le="([^"]+)"', k).group(1)
            buckets[le] = buckets.get(le, 0.0) + v - before.get(k, 0.0)
    if not buckets:
        return None
    items = sorted(((float("inf") if le == "+Inf" else float(le)), c) for le, c in buckets.items())
    n = items[-1][1]
    if n <= 0:
        return None
    for le, c in items:
        if c >= 0.99 * n:
            return le
    return items[-1][0]


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    return 0.0


def run(binary, path, n, seconds, work, face_side=None):
    api = free_port()
    base = 20000 + (os.getpid() % 500) * 40
    cfg = os.path.join(work, f"load-{n}.toml")
    with open(cfg, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:{api}"\nqueue_frames = 64\n')
        if face_side is not None:
            f.write(f'[analysis]\nface_side = {face_side}\n')
        for i in range(n):
            f.write(f'[[streams]]\nname = "s{i}"\nvideo = {{ port = {base + 4 * i} }}\naudio = {{ port = {base + 4 * i + 2} }}\n')
    serve = subprocess.Popen([binary, "serve", "--backend", "cpu", "--json", "--config", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                metrics(api); break
            except Exception:
                time.sleep(0.1)
        time.sleep(1.0)
        senders = [sender(path, base + 4 * i, base + 4 * i + 2) for i in range(n)]
        time.sleep(8.0)  # warm-up: jitter buffers, first windows
        m0, c0, t0 = metrics(api), cpu_seconds(serve.pid), time.time()
        rss = [rss_mib(serve.pid)]
        while time.time() - t0 < seconds:
            time.sleep(5.0)
            rss.append(rss_mib(serve.pid))
        m1, c1, t1 = metrics(api), cpu_seconds(serve.pid), time.time()
        for s in senders:
            s.send_signal(signal.SIGINT)
        for s in senders:
            try:
                s.wait(timeout=5)
            except subprocess.TimeoutExpired:
                s.kill()
        d = lambda name, **kw: total(m1, name, **kw) - total(m0, name, **kw)
        frames = d("evalverse_frames_total")
        return {
            "streams": n,
            "fps_per_stream": round(frames / n / (t1 - t0), 1),
            "dropped_frames": int(d("evalverse_dropped_frames_total")),
            "dropped_audio_chunks": int(d("evalverse_dropped_audio_chunks_total")),
            "rtp_lost": int(d("evalverse_rtp_packets_lost_total")),
            "latency_p99_s": p99(m1, m0, "evalverse_evaluation_latency_seconds", stage="window"),
            "cpu_cores": round((c1 - c0) / (t1 - t0), 2),
            "rss_mib": round(max(rss), 1),
            "rss_mib_per_stream": round(max(rss) / n, 1),
            "rss_growth_mib": round(rss[-1] - rss[0], 1),
        }
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            serve.wait(timeout=10)
        except subprocess.TimeoutExpired:
            serve.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--n", default="2,4,8,10,12")
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--face-side", type=int, help="analysis.face_side (0: no faces); default: the built-in")
    ap.add_argument("--source", help="a clip to send instead of testsrc2 (looped, 720p30), e.g. a talking face")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "evalverse-load"))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    path = clip(a.work, a.seconds + 30, a.source)
    print(f"machine: {os.cpu_count()} cores; rmem_max {open('/proc/sys/net/core/rmem_max').read().strip()}")
    print("| streams | fps/stream | dropped frames | RTP lost | p99 latency past the hop (s, ≤ 0.1) | CPU cores | RSS MiB (per stream) | RSS growth MiB |")
    print("|---|---|---|---|---|---|---|---|")
    best = 0
    for n in [int(x) for x in a.n.split(",")]:
        r = run(a.bin, path, n, a.seconds, a.work, a.face_side)
        ok = r["dropped_frames"] == 0 and r["latency_p99_s"] is not None and r["latency_p99_s"] <= 0.1
        best = n if ok else best
        print(f"| {n} | {r['fps_per_stream']} | {r['dropped_frames']} | {r['rtp_lost']} | {r['latency_p99_s']} | {r['cpu_cores']} | {r['rss_mib']} ({r['rss_mib_per_stream']}) | {r['rss_growth_mib']} |", flush=True)
    print(f"\nlargest N in real time with zero drops and p99 <= 100 ms past the hop: {best}")


if __name__ == "__main__":
    sys.exit(main())
