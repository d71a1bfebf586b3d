#!/usr/bin/env python3
"""Fit the lip-sync projections (weights/lips_sync.json) on talking clips that are in sync.

    python3 scripts/faces/fit_lips.py --bin $CARGO_TARGET_DIR/release/evalverse \
        --media ../shared/media --out weights/lips_sync.json

Training clips: the talking clips of MEDIA/talking/syncnet_reference.csv at SyncNet offset 0
with confidence >= 5 (in sync), less the ones the scorecard shifts (manifest key "talking") and
less every clip that speaks the same recording as one of those (several generated clips share
one speech track): the scorecard's clips stay unseen. `evalverse eval` runs on each with
EVALVERSE_FACES_DUMP set, which writes the mouth features of each face track and the speech
bands exactly as the estimator sees them (src/model/faces/lips.rs). The projections are the
first COMPONENTS canonical pairs of the detrended, standardised mouth features (the longest
track) and speech bands, the speech 40 ms behind the mouth; the score at a lag is the mean of the
components' correlations; the speech lag is the median best lag of the training clips.

Validation is grouped by speech: each clip is scored with projections fitted without any clip
that speaks the same recording, against its own speech and against the speech of every other
non-scorecard clip that speaks another recording (the mismatched pairs). min_peak is set just
above the highest mismatched peak whose z passes --min-z, so that none of them commits; the
figures (for 1 and for COMPONENTS components: the ablation) are printed and stored in the file.
Speech identity is read from each clip's audio envelope (ffmpeg). Needs numpy and ffmpeg.
"""
import argparse, csv, itertools, json, os, subprocess, sys, tempfile
import numpy as np

STEP = 0.01
HALF = 30          # detrend: 61-step moving average, edges held
SEARCH = 50        # steps, +-500 ms
MIN_N = 250        # 2.5 s
FIT_LAG = 4        # speech 40 ms behind the mouth while fitting
FLOOR_DB = 50.0


def detrend(v):
    p = np.pad(v, (HALF, HALF), mode="edge")
    k = np.ones(2 * HALF + 1) / (2 * HALF + 1)
    return v - np.convolve(p, k, "valid")


def load(path):
    d = json.load(open(path))
    tracks = d["mouth"]
    if not tracks or not d["speech"]:
        return None
    t = max(tracks, key=lambda k: len(tracks[k]))
    fr = tracks[t]
    ts = np.array([f[0] for f in fr])
    F = np.array([f[1] for f in fr], dtype=np.float64)
    g = ts[0] + np.arange(int(np.floor((ts[-1] - ts[0]) / STEP)) + 1) * STEP
    M = np.stack([np.interp(g, ts, F[:, k]) for k in range(F.shape[1])], 1)
    S = np.array(d["speech"], dtype=np.float64)
    S = np.maximum(S, S.max(0) - FLOOR_DB)
    return dict(m0=g[0], M=np.stack([detrend(M[:, k]) for k in range(M.shape[1])], 1),
                s0=d["speech_t0"], S=np.stack([detrend(S[:, k]) for k in range(S.shape[1])], 1))


def aligned(c, a, lag):
    """Mouth rows of clip c against speech rows of clip a, the speech `lag` steps later."""
    off = int(round((c["m0"] - a["s0"]) / STEP)) + lag
    k0 = max(0, -off)
    n = min(len(c["M"]) - k0, len(a["S"]) - (k0 + off))
    if n < MIN_N:
        return None
    return c["M"][k0:k0 + n], a["S"][k0 + off:k0 + off + n]


def speech_groups(folder, clips):
    """Clips speaking the same recording (10-ms level envelopes correlated above 0.9 at some
    lag within 0.5 s) share a group: {clip: group}."""
    env = {}
    for c in clips:
        pcm = subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-i", os.path.join(folder, c),
                              "-ac", "1", "-ar", "8000", "-f", "f32le", "-"], capture_output=True, check=True).stdout
        a = np.frombuffer(pcm, dtype=np.float32)
        n = len(a) // 80
        e = 10 * np.log10((a[:n * 80].reshape(n, 80).astype(np.float64) ** 2).mean(1) + 1e-8)
        env[c] = (e - e.mean()) / (e.std() + 1e-9)
    root = {c: c for c in clips}

    def find(c):
        while root[c] != c:
            c = root[c]
        return c
    for a, b in itertools.combinations(sorted(clips), 2):
        x, y = env[a], env[b]
        n = min(len(x), len(y))
        for lag in range(-50, 51, 2):
            xs, ys = x[max(0, lag):n + min(0, lag)], y[max(0, -lag):n - max(0, lag)]
            m = min(len(xs), len(ys))
            if m > 200 and np.corrcoef(xs[:m], ys[:m])[0, 1] > 0.9:
                root[find(a)] = find(b)
                break
    return {c: find(c) for c in clips}


def fit(clips, k):
    pairs = [aligned(c, c, FIT_LAG + c.get("shift", 0)) for c in clips]
    X, Y = zip(*[p for p in pairs if p is not None])
    X, Y = np.concatenate(X), np.concatenate(Y)
    sx, sy = X.std(0), Y.std(0)
    X, Y = (X - X.mean(0)) / sx, (Y - Y.mean(0)) / sy
    cxx = X.T @ X / len(X) + 1e-3 * np.eye(X.shape[1])
    cyy = Y.T @ Y / len(Y) + 1e-3 * np.eye(Y.shape[1])
    wx = np.linalg.inv(np.linalg.cholesky(cxx)).T
    wy = np.linalg.inv(np.linalg.cholesky(cyy)).T
    u, s, vt = np.linalg.svd(wx.T @ (X.T @ Y / len(X)) @ wy)
    pairs = []
    for j in range(k):
        a, b = (wx @ u[:, j]) / sx, (wy @ vt[j]) / sy
        pairs.append((-a, -b) if a[0] < 0 else (a, b))
    return pairs


def pearson(x, y):
    x, y = x - x.mean(), y - y.mean()
    d = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / d) if d > 0 else 0.0


def curve(c, a_clip, w, every=1, speech=None):
    src = dict(a_clip, S=speech) if speech is not None else a_clip
    out = []
    for lag in range(-SEARCH, SEARCH + 1, every):
        p = aligned(c, src, lag)
        if p is not None:
            out.append((lag, float(np.mean([pearson(p[0] @ a, p[1] @ b) for a, b in w]))))
    return out


def score(c, a_clip, w):
    """Best lag (ms), peak and its height over the rolled-speech null (z), as lips.rs does."""
    cc = curve(c, a_clip, w)
    if not cc:
        return None
    i = int(np.argmax([r for _, r in cc]))
    lag, peak = cc[i]
    n = len(a_clip["S"])
    maxima = []
    for roll in range(120, n - 120 + 1, 25):
        rc = curve(c, a_clip, w, 2, np.roll(a_clip["S"], roll, 0))
        if rc:
            maxima.append(max(r for _, r in rc))
    z = (peak - np.mean(maxima)) / np.std(maxima) if len(maxima) >= 3 and np.std(maxima) > 0 else 0.0
    return lag * 10.0, peak, float(z)


def conv_lines(x, b, hidden, kernel, components):
    """One branch of the learned net (src/model/faces/lipnet.rs) in numpy: x (T, F) -> (T, C)."""
    t, f = x.shape
    w1 = np.array(b["w1"], dtype=np.float64).reshape(hidden, f, kernel)
    w2 = np.array(b["w2"], dtype=np.float64).reshape(components, hidden)
    pad = kernel // 2
    xp = np.pad(x, ((pad, kernel - 1 - pad), (0, 0)))
    h = np.tile(np.array(b["b1"], dtype=np.float64), (t, 1))
    for j in range(kernel):
        h += xp[j:j + t] @ w1[:, :, j].T
    return np.tanh(h) @ w2.T + np.array(b["b2"])


class Learned:
    """The learned lines, trained by `evalverse train-lips` per grouped fold."""

    def __init__(self, a, data, groups, train):
        self.a, self.data, self.groups, self.train = a, data, groups, train
        X = np.concatenate([data[c]["M"] for c in train])
        Y = np.concatenate([data[c]["S"] for c in train])
        self.sm, self.ss = X.std(0) + 1e-9, Y.std(0) + 1e-9
        self.cache = {}

    def weights(self, without_group):
        if without_group in self.cache:
            return self.cache[without_group]
        a, d = self.a, self.data
        names = sorted(set(self.groups.values()))
        clips = [dict(group=names.index(self.groups[c]),
                      M=(d[c]["M"] / self.sm).round(5).tolist(), S=(d[c]["S"] / self.ss).round(4).tolist(),
                      off=int(round((d[c]["m0"] - d[c]["s0"]) / STEP)) + FIT_LAG + d[c].get("shift", 0))
                 for c in self.train if self.groups[c] != without_group]
        run = dict(clips=clips, hidden=a.learned_hidden, kernel=a.learned_kernel,
                   components=a.components, steps=a.learned_steps, seed=1)
        with tempfile.TemporaryDirectory() as tmp:
            fi, fo = os.path.join(tmp, "in.json"), os.path.join(tmp, "out.json")
            json.dump(run, open(fi, "w"))
            subprocess.run([a.bin, "train-lips", "--data", fi, "--out", fo], check=True)
            w = json.load(open(fo))
        self.cache[without_group] = w
        return w

    def project(self, c, w):
        d = self.data[c]
        k = w["components"]
        lm = conv_lines(d["M"] / self.sm, w["mouth"], w["hidden"], w["kernel"], k)
        ls = conv_lines(d["S"] / self.ss, w["speech"], w["hidden"], w["kernel"], k)
        return dict(d, M=np.stack([detrend(lm[:, j]) for j in range(k)], 1),
                    S=np.stack([detrend(ls[:, j]) for j in range(k)], 1))


def learned_figures(a, data, groups, train, pool):
    """Own and mismatched scores of the learned lines, each clip scored by the fold trained
    without its recording: the same protocol as the canonical pairs'."""
    L = Learned(a, data, groups, train)
    ident = [(np.eye(a.components)[j], np.eye(a.components)[j]) for j in range(a.components)]
    own, mism = [], []
    for c in train:
        w = L.weights(groups[c])
        pc = L.project(c, w)
        own.append(score(pc, pc, ident))
        mism += [m for m in (score(pc, L.project(o, w), ident) for o in pool if groups[o] != groups[c])
                 if m is not None]
    return own, mism


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--media", default="../shared/media")
    ap.add_argument("--out", default="weights/lips_sync.json")
    ap.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "evalverse-lips-fit"))
    ap.add_argument("--components", type=int, default=2)
    ap.add_argument("--near-frames", type=int, default=0,
                    help="also train on clips SyncNet finds this many frames off (confidence >= 5), "
                         "their speech moved by that offset")
    ap.add_argument("--min-z", type=float, default=3.0)
    ap.add_argument("--learned", action="store_true",
                    help="also train the learned lines (evalverse train-lips) on the same grouped folds "
                         "and print their figures beside the canonical pairs' (the ablation)")
    ap.add_argument("--learned-hidden", type=int, default=8)
    ap.add_argument("--learned-kernel", type=int, default=9)
    ap.add_argument("--learned-steps", type=int, default=300)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    man = json.load(open(os.path.join(a.media, "manifest.json")))
    held = {c.replace("talking/", "") for c in man["talking"]["clips"]}
    ref = list(csv.DictReader(open(os.path.join(a.media, "talking/syncnet_reference.csv"))))
    # SyncNet's offset, in frames of 24 fps: -1 is the speech a frame late (our lag +42 ms).
    near = {str(o): o for o in range(-a.near_frames, a.near_frames + 1)}
    offsets = {r["clip"]: near[r["syncnet_offset_frames"]] for r in ref
               if r["syncnet_offset_frames"] in near and float(r["syncnet_confidence"] or 0) >= 5
               and r["clip"] not in held}
    insync = sorted(offsets)
    others = [r["clip"] for r in ref if r["clip"] not in held]
    data = {}
    for c in sorted(set(insync) | set(others)):
        dump = os.path.join(a.work, c.replace("/", "__") + ".json")
        if not os.path.exists(dump):
            env = dict(os.environ, EVALVERSE_FACES_DUMP=dump)
            subprocess.run([a.bin, "eval", os.path.join(a.media, "talking", c), "--json", "--backend", "cpu"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        d = load(dump) if os.path.exists(dump) else None
        if d is not None:
            # Steps the speech is behind the mouth beyond the in-sync lag, by SyncNet.
            d["shift"] = int(round(-offsets.get(c, 0) * 1000 / 24 / (STEP * 1000)))
            data[c] = d
    groups = speech_groups(os.path.join(a.media, "talking"), [r["clip"] for r in ref])
    held_groups = {groups[c] for c in held if c in groups}
    # A face followed for less than MIN_N steps says nothing (a clip whose face was lost).
    train = [c for c in insync if c in data and groups[c] not in held_groups
             and aligned(data[c], data[c], 0) is not None]
    pool = [c for c in others if c in data and groups[c] not in held_groups]
    print(f"training clips {len(train)} ({len({groups[c] for c in train})} recordings), "
          f"clips for mismatched speech {len(pool)}, held out {len(held)} and "
          f"{len([c for c in others if groups.get(c) in held_groups])} that speak their recordings")
    figs = {}
    variants = sorted({1, a.components}) + (["learned"] if a.learned else [])
    for k in variants:
        own, mism = [], []
        if k == "learned":
            own, mism = learned_figures(a, data, groups, train, pool)
        for c in train if k != "learned" else []:
            w = fit([data[x] for x in train if groups[x] != groups[c]], k)
            own.append(score(data[c], data[c], w))
            mism += [m for m in (score(data[c], data[o], w) for o in pool if groups[o] != groups[c])
                     if m is not None]
        passing = [s[1] for s in mism if s[2] >= a.min_z]
        min_peak = round(max(passing) + 0.01, 3) if passing else 0.0
        if k == "learned":
            # Not shipped: the lag of the grouped scores themselves.
            w = None
            speech_lag = float(np.median([s[0] - data[c]["shift"] * 10.0 for c, s in zip(train, own)]))
        else:
            w = fit([data[x] for x in train], k)
            lags = []
            for c in train:
                cc = curve(data[c], data[c], w)
                lags.append((cc[int(np.argmax([r for _, r in cc]))][0] - data[c]["shift"]) * 10.0)
            speech_lag = float(np.median(lags))
        # Each clip's own best lag less what SyncNet says it is: the error.
        own = [(s[0] - data[c]["shift"] * 10.0, s[1], s[2]) for c, s in zip(train, own)]
        oc = [s for s in own if s[1] >= min_peak and s[2] >= a.min_z and abs(s[0]) < SEARCH * 10]
        figs[k] = dict(w=w, speech_lag=speech_lag, min_peak=min_peak, fig={
            "components": k if k != "learned" else f"learned (hidden {a.learned_hidden}, kernel {a.learned_kernel}, "
                                                    f"{a.components} lines, {a.learned_steps} steps)", "training_clips": len(train), "mismatched_pairs": len(mism),
            "min_peak": min_peak,
            "grouped_own_commit_share": round(len(oc) / len(own), 3),
            "grouped_own_within_one_frame_of_in_sync": round(float(np.mean([abs(s[0] - speech_lag) <= 1000 / 24 for s in oc])) if oc else 0, 3),
            "grouped_own_median_abs_error_ms": round(float(np.median([abs(s[0] - speech_lag) for s in own])), 1),
            "grouped_own_peak_median": round(float(np.median([s[1] for s in own])), 3),
            "grouped_mismatched_peak_max": round(max(s[1] for s in mism), 3),
        })
        print(json.dumps(figs[k]["fig"]))
    best = figs[a.components]
    out = {
        "about": "Lip-sync projections: the first canonical pairs of the mouth features and the speech bands "
                 "(src/model/faces/lips.rs), fitted by scripts/faces/fit_lips.py on talking clips in sync "
                 "(SyncNet offset 0, confidence >= 5); the scorecard's clips and every clip speaking their "
                 "recordings held out. Figures grouped by recording; 'ablation' holds the one-component fit.",
        "mouth": [[round(float(x), 6) for x in a_] for a_, _ in best["w"]],
        "speech": [[round(float(x), 6) for x in b_] for _, b_ in best["w"]],
        "speech_lag_ms": best["speech_lag"],
        "min_peak": best["min_peak"],
        "min_z": a.min_z,
        "grouped_by_recording": best["fig"],
        "ablation": [figs[k]["fig"] for k in variants],
        "training": sorted(train),
    }
    with open(a.out, "w") as f:
        f.write(json.dumps(out, indent=1) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    sys.exit(main())
