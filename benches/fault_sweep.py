#!/usr/bin/env python3
"""Recall and precision of the fault detectors over many injections into every clip we have.

For each clip under MEDIA (the clean clips of manifest.json, talking/ and rated/), draws
injections of a freeze, a black and a digital silence (where there is sound) at random places
and lengths (seeded), writes each with `evalverse inject` (exact ground truth), evaluates it
with `evalverse eval --json` and counts:

  recall     an event of that kind, marked a fault, overlapping the injected span
  precision  of the fault events of that kind reported, those that overlap the injected span
             or a span where the source clip already is frozen/black/silent (ffmpeg's own
             freezedetect/blackdetect/silencedetect at 0.5 s, or evalverse on the source)
  onset      |reported start − injected start| of the found ones, in frames

A place where the source clip already holds still, is black or is silent is skipped (nothing
would be injected there).

    python3 benches/fault_sweep.py --bin $CARGO_TARGET_DIR/release/evalverse \\
        --media ../shared/media --per-clip 2 --seed 1 [--jobs 2]

Prints one line per injection, then a table and a line starting with SWEEP.
"""
import argparse, json, os, random, re, statistics, subprocess, sys, tempfile
from concurrent.futures import ThreadPoolExecutor

KINDS = ("freeze", "black", "silence")


def probe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,r_frame_rate",
                          "-of", "json", path], capture_output=True, text=True).stdout
    j = json.loads(out or "{}")
    dur = float(j.get("format", {}).get("duration", 0) or 0)
    fps, audio = 25.0, False
    for s in j.get("streams", []):
        if s.get("codec_type") == "video" and s.get("r_frame_rate", "0/0") != "0/0":
            a, b = s["r_frame_rate"].split("/")
            fps = float(a) / float(b or 1)
        audio |= s.get("codec_type") == "audio"
    return dur, fps, audio


def ffmpeg_spans(path, kind):
    flt = {"freeze": ["-map", "0:v:0", "-vf", "freezedetect=d=0.5"],
           "black": ["-map", "0:v:0", "-vf", "blackdetect=d=0.5"],
           "silence": ["-map", "0:a:0", "-af", "silencedetect=n=-50dB:d=0.5"]}[kind]
    r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-i", path] + flt + ["-f", "null", "-"],
                       capture_output=True, text=True)
    starts = [float(x) for x in re.findall(kind + r"_start: ?([0-9.]+)", r.stderr)]
    ends = [float(x) for x in re.findall(kind + r"_end: ?([0-9.]+)", r.stderr)]
    return [(a, ends[i] if i < len(ends) else 1e9) for i, a in enumerate(starts)]


def eval_events(binary, path):
    r = subprocess.run([binary, "eval", path, "--json", "--backend", "cpu"], capture_output=True, text=True,
                       env={**os.environ, "EVALVERSE_LOG": "error"})
    if r.returncode != 0:
        return None, (r.stderr.strip().splitlines() or ["exit %d" % r.returncode])[-1]
    ev = []
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            try:
                ev.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return ev, None


def faults(ev, kind):
    return [(float(e["start"]), float(e["end"])) for e in ev or []
            if e.get("type") == "event" and e.get("kind") == kind and e.get("fault", True) is not False
            and not e.get("ongoing")]


def overlaps(a, spans, slack=0.1):
    return any(a[0] < y + slack and a[1] > x - slack for x, y in spans)


def clips(media):
    man = json.load(open(os.path.join(media, "manifest.json")))
    out = [os.path.join(media, c) for c in man.get("clean", [])]
    for sub in ("talking", "rated"):
        for root, _, files in os.walk(os.path.join(media, sub)):
            out += [os.path.join(root, f) for f in sorted(files) if f.endswith(".mp4")]
    return sorted(set(out))


def plan(paths, per_clip, seed):
    rng = random.Random(seed)
    jobs = []
    for p in paths:
        dur, fps, audio = probe(p)
        if dur < 3.0:
            continue
        for kind in KINDS:
            if kind == "silence" and not audio:
                continue
            for k in range(per_clip):
                length = {"freeze": rng.uniform(0.7, 2.0), "black": rng.uniform(0.6, 1.5),
                          "silence": rng.uniform(0.6, 1.5)}[kind]
                start = rng.uniform(0.6, max(0.61, dur - length - 0.6))
                jobs.append(dict(clip=p, kind=kind, start=round(start, 3), end=round(start + length, 3), fps=fps, k=k))
    return jobs


def run_one(binary, work, job, existing):
    clip, kind = job["clip"], job["kind"]
    s0, s1 = job["start"], job["end"]
    if overlaps((s0, s1), existing[(clip, kind)], 0.0):
        return dict(job, status="skipped")
    out = os.path.join(work, f"{kind}-{job['k']}-" + clip.replace("/", "_").strip("._") + ".mp4")
    r = subprocess.run([binary, "inject", clip, out, f"--{kind}", f"{s0}:{s1}"], capture_output=True, text=True,
                       env={**os.environ, "EVALVERSE_LOG": "error"})
    if r.returncode != 0:
        return dict(job, status="inject failed: " + (r.stderr.strip().splitlines() or ["?"])[-1])
    truth = json.loads(r.stdout.strip().splitlines()[-1])
    # the injected span as written (frame-exact for the picture)
    span = next(((f["start"], f["end"]) for f in truth.get("faults", []) if f.get("kind") == kind), (s0, s1))
    ev, err = eval_events(binary, out)
    os.remove(out)
    if ev is None:
        return dict(job, status="eval failed: " + err)
    found = [e for e in faults(ev, kind) if e[0] <= span[1] and e[1] >= span[0]]
    others = [e for e in faults(ev, kind) if not (e[0] <= span[1] and e[1] >= span[0])]
    false = [e for e in others if not overlaps(e, existing[(clip, kind)])]
    onset = min((abs(e[0] - span[0]) for e in found), default=None)
    return dict(job, status="ok", span=span, found=bool(found), false=len(false), true_other=len(others) - len(false),
                onset_frames=None if onset is None else onset * job["fps"],
                reported=[(k, e["start"], e["end"]) for e in ev if e.get("type") == "event"
                          and e.get("kind") in ("freeze", "black", "silence", "static_shot", "fade_black", "quiet")
                          for k in [e["kind"]] if not e.get("ongoing")])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--media", required=True)
    ap.add_argument("--per-clip", type=int, default=2, help="injections of each kind per clip")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--limit", type=int, default=0, help="at most this many clips (0: all)")
    ap.add_argument("--work", default=tempfile.mkdtemp(prefix="evalverse-sweep-"))
    a = ap.parse_args()
    paths = clips(a.media)
    if a.limit:
        paths = paths[:a.limit]
    jobs = plan(paths, a.per_clip, a.seed)
    # What each source clip already holds: ffmpeg's detectors, and evalverse's own events on it.
    existing = {}

    def source(p):
        ev, _ = eval_events(a.bin, p)
        for kind in KINDS:
            spans = ffmpeg_spans(p, kind) if (kind != "silence" or probe(p)[2]) else []
            existing[(p, kind)] = spans + faults(ev, kind)
    with ThreadPoolExecutor(a.jobs) as pool:
        list(pool.map(source, sorted({j["clip"] for j in jobs})))
    with ThreadPoolExecutor(a.jobs) as pool:
        results = list(pool.map(lambda j: run_one(a.bin, a.work, j, existing), jobs))
    table = {k: dict(n=0, found=0, false=0, onsets=[], skipped=0, failed=0) for k in KINDS}
    for r in results:
        t = table[r["kind"]]
        name = os.path.relpath(r["clip"], a.media)
        if r["status"] == "skipped":
            t["skipped"] += 1
            print(f"{r['kind']:8s} {name:60s} {r['start']:.2f}-{r['end']:.2f}s skipped: already {r['kind']} there")
            continue
        if r["status"] != "ok":
            t["failed"] += 1
            print(f"{r['kind']:8s} {name:60s} {r['start']:.2f}-{r['end']:.2f}s {r['status']}")
            continue
        t["n"] += 1
        t["found"] += r["found"]
        t["false"] += r["false"]
        if r["onset_frames"] is not None:
            t["onsets"].append(r["onset_frames"])
        what = "found" if r["found"] else "MISSED"
        onset = "" if r["onset_frames"] is None else " onset %.1f frames" % r["onset_frames"]
        false = " false=%d" % r["false"] if r["false"] else ""
        extra = "" if r["found"] else " reported=%s" % r["reported"]
        print(f"{r['kind']:8s} {name:60s} {r['span'][0]:.2f}-{r['span'][1]:.2f}s {what}{onset}{false}{extra}")
    print()
    print("| kind | injections | found | recall | false events | precision | median onset (frames) | skipped | failed |")
    print("|---|---|---|---|---|---|---|---|---|")
    line = []
    for k, t in table.items():
        rec = t["found"] / t["n"] if t["n"] else float("nan")
        prec = t["found"] / (t["found"] + t["false"]) if t["found"] + t["false"] else float("nan")
        med = statistics.median(t["onsets"]) if t["onsets"] else float("nan")
        print(f"| {k} | {t['n']} | {t['found']} | {rec * 100:.1f} % | {t['false']} | {prec * 100:.1f} % | {med:.1f} | {t['skipped']} | {t['failed']} |")
        line.append(f"{k}_recall={t['found']}/{t['n']} {k}_precision={prec * 100:.1f}%")
    print("SWEEP " + " ".join(line) + f" clips={len({j['clip'] for j in jobs})} seed={a.seed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
