"use strict";
// evalverse live page: the run page of one stream, drawn by the server from the stream's
// records as they arrive (`GET /v1/streams/ID/page`, the renderer `evalverse report` uses, every
// text escaped there), fetched again every second. The token, when the server wants one, comes
// in the fragment (`#token=...`), which the browser never sends to the server; the page shows
// the last `?span=` seconds (default 300).
(() => {
  const root = document.getElementById("live");
  const id = root.dataset.stream;
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  // Out of the address bar and the history once read (it stays in this page's memory).
  if (token) history.replaceState(null, "", location.pathname + location.search);
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const span = Math.max(5, Number(new URLSearchParams(location.search).get("span")) || 300);
  const url = "/v1/streams/" + encodeURIComponent(id) + "/page?span=" + span;
  const body = document.getElementById("page");

  function status(text, cls) {
    const s = document.getElementById("status");
    s.textContent = text;
    s.className = cls || "";
  }

  let backoff = 1000;
  async function poll() {
    try {
      const res = await fetch(url, { headers, cache: "no-store" });
      if (res.status === 401) {
        status("Unauthorised: open this page as /streams/" + id + "#token=TOKEN.", "stop");
        return;
      }
      if (res.status === 404) {
        status("No such stream (yet): waiting for its first record.", "");
      } else if (!res.ok) {
        throw new Error("HTTP " + res.status);
      } else {
        body.innerHTML = await res.text();
        const run = document.getElementById("run");
        root.dataset.records = run ? run.dataset.records : "0";
        status("Live: following the stream.", "ok");
      }
      backoff = 1000;
    } catch (e) {
      status("Disconnected (" + e.message + "): retrying…", "stop");
      backoff = Math.min(backoff * 2, 30000);
    }
    setTimeout(poll, backoff);
  }

  poll();
})();
