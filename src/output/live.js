"use strict";
// evalverse live page: the run report's picture, drawn from the server-sent records of one
// stream as they arrive (`GET /v1/events?stream=ID`), with the verdict polled every 2 s.
// The token, when the server wants one, comes in the fragment (`#token=...`), which the
// browser never sends to the server; the page holds the last `?span=` seconds (default 300).
(() => {
  const root = document.getElementById("live");
  const id = root.dataset.stream;
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  // Out of the address bar and the history once read (it stays in this page's memory).
  if (token) history.replaceState(null, "", location.pathname + location.search);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const span = Math.max(10, Number(new URLSearchParams(location.search).get("span")) || 300);
  const DIMS = [["overall", "#222"], ["continuity", "#1f77b4"], ["sync", "#d62728"], ["rhythm", "#2ca02c"], ["sound", "#9467bd"], ["picture", "#ff7f0e"]];
  const st = { windows: [], cuts: [], events: new Map(), alerts: [], summary: null, state: "", verdict: null, records: 0 };
  const $ = (q) => document.getElementById(q);
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const num = (v) => (typeof v === "number" && isFinite(v) ? v : null);
  const fixed = (v, d) => (num(v) === null ? "–" : v.toFixed(d));

  function status(text, cls) {
    const s = $("status");
    s.textContent = text;
    s.className = cls || "";
  }

  // Latest stream time the page knows of.
  function latest() {
    let t = 0;
    for (const w of st.windows) t = Math.max(t, w.end);
    for (const c of st.cuts) t = Math.max(t, c.pts);
    for (const e of st.events.values()) t = Math.max(t, e.end);
    return t;
  }

  function take(r) {
    if (!r || r.stream !== id) return;
    st.records += 1;
    switch (r.type) {
      case "window": if (num(r.end) !== null) st.windows.push(r); break;
      case "cut": if (num(r.pts) !== null) st.cuts.push(r); break;
      case "event":
        if (num(r.start) === null || num(r.end) === null) break;
        // An event is reported when it starts (ongoing) and again when it ends: the later
        // report of a kind replaces that kind's ongoing one.
        for (const [k, e] of st.events) if (e.ongoing && e.kind === r.kind) st.events.delete(k);
        st.events.set(r.kind + "@" + r.start, r);
        break;
      case "alert": st.alerts.unshift(r); st.alerts.length = Math.min(st.alerts.length, 20); break;
      case "state": st.state = r.state + (r.message ? ": " + r.message : ""); break;
      case "summary": st.summary = r; break;
    }
    const from = latest() - span;
    st.windows = st.windows.filter((w) => w.end >= from);
    st.cuts = st.cuts.filter((c) => c.pts >= from);
    for (const [k, e] of st.events) if (e.end < from) st.events.delete(k);
    dirty();
  }

  let pending = false;
  function dirty() {
    if (!pending) {
      pending = true;
      setTimeout(render, 200);
    }
  }

  function timeline() {
    const end = Math.max(latest(), 1);
    const first = st.windows.reduce((m, w) => Math.min(m, num(w.start) ?? m), end);
    const start = Math.max(0, first, end - span);
    const left = 40, width = 940, top = 10, h = 200, lanes = top + h + 20;
    const x = (t) => left + Math.min(Math.max((t - start) / Math.max(end - start, 1e-6), 0), 1) * width;
    const y = (v) => top + h - (v / 100) * h;
    let o = `<svg id="timeline" width="1000" height="${lanes + 60}" role="img">`;
    for (const v of [0, 50, 100]) {
      o += `<line x1="${left}" x2="${left + width}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="4" y="${y(v) + 4}">${v}</text>`;
    }
    for (const [d, colour] of DIMS) {
      const pts = st.windows
        .filter((w) => w.scores && num(w.scores[d]) !== null)
        .map((w) => `${x(w.end).toFixed(1)},${y(w.scores[d]).toFixed(1)}`);
      if (pts.length) {
        o += `<polyline class="score" data-dimension="${d}" data-points="${pts.length}" fill="none" stroke="${colour}" stroke-width="1.5" points="${pts.join(" ")}"><title>${d}</title></polyline>`;
      }
    }
    for (const c of st.cuts) {
      const kind = c.kind === "gradual" ? "gradual" : "hard";
      o += `<line class="cut ${kind}" data-t="${c.pts}" data-kind="${kind}" x1="${x(c.pts).toFixed(1)}" x2="${x(c.pts).toFixed(1)}" y1="${top}" y2="${lanes + 12}"><title>${kind} cut at ${c.pts.toFixed(2)} s</title></line>`;
    }
    for (const e of st.events.values()) {
      const d = e.diagnosis || {};
      const tip = `${e.kind} ${fixed(e.start, 2)}–${fixed(e.end, 2)} s${e.ongoing ? " (ongoing)" : ""}: ${d.observed || ""} — ${d.problem || ""} Fix: ${d.fix || ""}`;
      o += `<rect class="event ${e.fault ? "fault" : "info"}" data-kind="${esc(e.kind)}" data-start="${e.start}" data-end="${e.end}" x="${x(e.start).toFixed(1)}" y="${lanes}" width="${Math.max(x(e.end) - x(e.start), 2).toFixed(1)}" height="12"><title>${esc(tip)}</title></rect>`;
    }
    const steps = [1, 2, 5, 10, 30, 60, 300, 600, 3600];
    const step = steps.find((s) => (end - start) / s <= 12) || 3600;
    for (let t = Math.ceil(start / step) * step; t <= end + 1e-9; t += step) {
      o += `<text x="${(x(t) - 6).toFixed(1)}" y="${lanes + 34}">${t}s</text>`;
    }
    let lx = left;
    for (const [d, colour] of DIMS) {
      o += `<text x="${lx}" y="${lanes + 52}" style="fill:${colour}">— ${d}</text>`;
      lx += 100;
    }
    return o + `<text x="${lx}" y="${lanes + 52}">| cut   ▮ fault   ▮ informative event</text></svg>`;
  }

  function sync(w) {
    const s = w && w.sync;
    if (!s) return "No sync figure yet.";
    if (num(s.audio_delay_ms) !== null) {
      const d = s.audio_delay_ms;
      return `Audio ${d >= 0 ? "late" : "early"} by ${Math.abs(d).toFixed(1)} ms (confidence ${fixed(s.confidence, 2)}, window ending ${fixed(w.end, 1)} s).`;
    }
    return `Declined: ${esc(s.reason || "no evidence")} (window ending ${fixed(w.end, 1)} s).`;
  }

  function render() {
    pending = false;
    const w = st.windows[st.windows.length - 1];
    const v = st.verdict;
    const verdict = $("verdict");
    verdict.textContent = v ? "Verdict: " + v.verdict + (v.reasons && v.reasons.length ? " — " + v.reasons.map((r) => r.message || r.rule || "").join("; ") : "") : "Verdict: …";
    verdict.className = v && v.verdict === "stop" ? "stop" : "ok";
    $("state").textContent = st.state ? "State: " + st.state : v && v.state ? "State: " + v.state : "";
    $("scores").innerHTML = "<tr>" + DIMS.map(([d]) => `<th>${d}</th>`).join("") + "</tr><tr>" +
      DIMS.map(([d]) => `<td>${w && w.scores ? fixed(w.scores[d], 1) : "–"}</td>`).join("") + "</tr>";
    $("timeline-box").innerHTML = timeline();
    $("sync").innerHTML = sync(w);
    $("alerts").innerHTML = st.alerts.length
      ? st.alerts.map((a) => `<li class="alert" data-rule="${esc(a.rule)}">${fixed(a.at, 1)} s · ${esc(a.state)} · ${esc(a.message)}</li>`).join("")
      : "<li>No alerts.</li>";
    const events = [...st.events.values()].slice(-30).reverse();
    $("events-box").innerHTML = events.length
      ? "<table id=\"events\"><tr><th>event</th><th>time</th><th>dimension</th><th>observed</th><th>problem</th><th>fix</th></tr>" +
        events.map((e) => {
          const d = e.diagnosis || {};
          return `<tr><td>${esc(e.kind)}</td><td>${fixed(e.start, 2)}–${fixed(e.end, 2)} s${e.ongoing ? " …" : ""}</td><td>${esc(d.dimension)}</td><td>${esc(d.observed)}</td><td>${esc(d.problem)}</td><td>${esc(d.fix)}</td></tr>`;
        }).join("") + "</table>"
      : "<p>No events.</p>";
    const s = st.summary;
    $("summary").innerHTML = s
      ? `<h2>Ended</h2><p id="ended">${fixed(s.duration_s, 1)} s, ${fixed(s.frames, 0)} frames; verdict ${esc(s.verdict && s.verdict.verdict)}; overall ${fixed(s.scores && s.scores.overall, 1)}.</p>`
      : "";
    root.dataset.records = String(st.records);
  }

  async function listen() {
    let backoff = 1000;
    for (;;) {
      try {
        const res = await fetch("/v1/events?stream=" + encodeURIComponent(id), { headers, cache: "no-store" });
        if (res.status === 401) {
          status("Unauthorised: open this page as /streams/" + id + "#token=TOKEN.", "stop");
          return;
        }
        if (!res.ok || !res.body) throw new Error("HTTP " + res.status);
        status("Live: receiving records.", "ok");
        backoff = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
            if (data) take(JSON.parse(data));
          }
        }
        status("Disconnected: reconnecting…", "stop");
      } catch (e) {
        status("Disconnected (" + e.message + "): reconnecting…", "stop");
      }
      await new Promise((r) => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 30000);
    }
  }

  async function poll() {
    try {
      const res = await fetch("/v1/streams/" + encodeURIComponent(id) + "/verdict", { headers, cache: "no-store" });
      if (res.status === 404) st.verdict = { verdict: "no such stream (yet)" };
      else if (res.ok) st.verdict = await res.json();
      dirty();
    } catch (e) {
      // The event stream reports the connection; the next poll tries again.
    }
    setTimeout(poll, 2000);
  }

  render();
  listen();
  poll();
})();
