//! `serve`'s live page (`GET /streams/{id}`), looked at as a person would while a render
//! streams: headless Chromium (Debian's `chromium`, driven over the DevTools protocol on a pipe)
//! opens the page of a live RTP stream before the sender starts; while the sender plays, the
//! page must grow by itself (no reload), and it must end holding one marker per cut and per
//! event the evaluator sent, at their times, with the stream's sync figure and the final
//! verdict — without one script error. A page without the token says so instead of showing
//! nothing.
mod common;
use common::{Server, free_ports, wait_for};
use evalverse::config::{Settings, StreamSettings};
use evalverse::sender::send_synthetic;
use evalverse::sender::synth::SceneSpec;
use evalverse::{Record, StreamState};
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "live-page-token-5b1e";

/// Chromium under the DevTools protocol over `--remote-debugging-pipe` (fd 3 in, fd 4 out,
/// messages ending in NUL), with one page attached.
struct Browser {
    child: Child,
    to: ChildStdin,
    from: Receiver<Value>,
    next: u64,
    session: String,
    /// Script exceptions and console errors seen so far.
    problems: Arc<Mutex<Vec<String>>>,
}

impl Browser {
    fn open(url: &str) -> Self {
        // The shell hands our stdin and stdout to Chromium as its fds 3 and 4.
        let mut child = Command::new("sh")
            .args([
                "-c",
                "exec \"$@\" 3<&0 4>&1 </dev/null >/dev/null 2>/dev/null",
                "sh",
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-pipe",
                "about:blank",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("chromium (scripts/install-deps.sh installs it)");
        let to = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, from) = channel();
        let problems = Arc::new(Mutex::new(vec![]));
        let seen = problems.clone();
        std::thread::spawn(move || {
            let mut buf = vec![];
            while out.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                buf.pop_if(|b| *b == 0);
                if let Ok(m) = serde_json::from_slice::<Value>(&buf) {
                    match m["method"].as_str() {
                        Some("Runtime.exceptionThrown") => {
                            seen.lock().unwrap().push(m["params"].to_string())
                        }
                        Some("Runtime.consoleAPICalled")
                            if ["error", "warning", "assert"]
                                .contains(&m["params"]["type"].as_str().unwrap_or("")) =>
                        {
                            seen.lock().unwrap().push(m["params"].to_string())
                        }
                        _ => {
                            let _ = tx.send(m);
                        }
                    }
                }
                buf.clear();
            }
        });
        let mut b = Self {
            child,
            to,
            from,
            next: 0,
            session: String::new(),
            problems,
        };
        let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
        let attached = b.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target["targetId"], "flatten": true}),
        );
        b.session = attached["sessionId"].as_str().unwrap().to_string();
        b.call(Some(()), "Runtime.enable", json!({}));
        b.call(Some(()), "Page.navigate", json!({"url": url}));
        b
    }

    /// One command (on the page's session when `page`), its result.
    fn call(&mut self, page: Option<()>, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut m = json!({"id": self.next, "method": method, "params": params});
        if page.is_some() {
            m["sessionId"] = json!(self.session);
        }
        let mut bytes = m.to_string().into_bytes();
        bytes.push(0);
        self.to.write_all(&bytes).unwrap();
        self.to.flush().unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let r = self
                .from
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no answer to {method}"));
            if r["id"] == self.next {
                assert!(r["error"].is_null(), "{method}: {r}");
                return r["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    fn eval(&mut self, expr: &str) -> Value {
        let r = self.call(
            Some(()),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true}),
        );
        r["result"]["value"].clone()
    }

    /// What the page shows: markers, lines, texts.
    fn look(&mut self) -> Value {
        self.eval(
            r#"(() => {
                const all = (q, a) => [...document.querySelectorAll(q)].map((e) => Number(e.getAttribute(a)));
                const text = (id) => (document.getElementById(id) || {}).textContent || "";
                return {
                    status: text("status"), verdict: text("verdict"), sync: text("sync"),
                    ended: text("ended"), state: text("state"),
                    cuts: all("line.cut", "data-t"), events: all("rect.event", "data-start"),
                    points: all("polyline.score[data-dimension=overall]", "data-points")[0] || 0,
                    dims: [...document.querySelectorAll("polyline.score")].map((e) => e.dataset.dimension),
                    records: Number(((document.getElementById("live") || {}).dataset || {}).records || 0),
                };
            })()"#,
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_live_page_follows_a_stream_as_it_plays() {
    let srv = Server::start(Settings::default(), Some(TOKEN));
    let mut rx = srv.evaluator.subscribe();
    let base = free_ports(4);
    srv.evaluator
        .add_stream(StreamSettings::rtp("render-7", Some(base), Some(base + 2)))
        .unwrap();
    wait_for("the receiver to start", 10.0, || {
        srv.evaluator.stream("render-7").unwrap().state != StreamState::Starting
    });

    // Without the token the page says what is wrong.
    let mut bare = Browser::open(&format!("http://{}/streams/render-7", srv.addr));
    wait_for("the page to report the missing token", 15.0, || {
        bare.look()["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("Unauthorised"))
    });
    drop(bare);

    let mut page = Browser::open(&format!(
        "http://{}/streams/render-7#token={TOKEN}",
        srv.addr
    ));
    wait_for("the page to connect", 15.0, || {
        page.look()["status"]
            .as_str()
            .is_some_and(|s| s.starts_with("Live"))
    });

    let spec = SceneSpec {
        width: 320,
        height: 180,
        fps: 30,
        duration_s: 14.0,
        cuts: vec![2.2, 5.1, 9.4, 11.3],
        freeze: vec![(6.0, 7.5)],
        audio_delay_ms: 200.0,
        ..Default::default()
    };
    let sender = std::thread::spawn(move || {
        let target = common::loopback(base, 800);
        send_synthetic(&spec, &target, Arc::new(AtomicBool::new(false)))
    });
    let mut records: Vec<Arc<Record>> = vec![];
    let mut seen_points = vec![];
    while !sender.is_finished() {
        std::thread::sleep(Duration::from_millis(1000));
        while let Ok(r) = rx.try_recv() {
            records.push(r);
        }
        seen_points.push(page.look()["points"].as_u64().unwrap());
    }
    sender.join().unwrap().expect("sender ran");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(srv.evaluator.remove_stream("render-7"));
    wait_for("the page to show the end of the stream", 15.0, || {
        page.look()["ended"].as_str().is_some_and(|s| !s.is_empty())
    });
    while let Ok(r) = rx.try_recv() {
        records.push(r);
    }
    let seen = page.look();
    eprintln!("page: {seen}\nwhile playing, overall points: {seen_points:?}");

    // It grew while the stream played, without a reload.
    let growing = seen_points.windows(2).filter(|w| w[1] > w[0]).count();
    assert!(
        growing >= 3,
        "the timeline grew only {growing} times: {seen_points:?}"
    );

    let mine: Vec<Value> = records
        .iter()
        .filter(|r| r.stream() == "render-7")
        .map(|r| serde_json::from_str(&r.to_json()).unwrap())
        .collect();
    let of = |t: &'static str| mine.iter().filter(move |r| r["type"] == t);
    let mut cuts: Vec<f64> = of("cut").map(|c| c["pts"].as_f64().unwrap()).collect();
    let mut drawn: Vec<f64> = serde_json::from_value(seen["cuts"].clone()).unwrap();
    cuts.sort_by(f64::total_cmp);
    drawn.sort_by(f64::total_cmp);
    assert!(cuts.len() >= 4, "the evaluator found the cuts: {cuts:?}");
    assert_eq!(drawn, cuts, "one marker per cut, at its time");
    // An event is sent when it starts (ongoing) and again when it ends: one marker each, at
    // the final report's start.
    let mut starts: Vec<f64> = of("event")
        .filter(|e| e["ongoing"] == false)
        .map(|e| e["start"].as_f64().unwrap())
        .collect();
    let mut shown: Vec<f64> = serde_json::from_value(seen["events"].clone()).unwrap();
    shown.sort_by(f64::total_cmp);
    starts.sort_by(f64::total_cmp);
    assert_eq!(shown, starts, "one marker per event, at its start");
    assert!(
        of("event").any(|e| e["kind"] == "freeze"),
        "the freeze is among the events"
    );
    let windows = of("window").count() as u64;
    assert_eq!(seen["points"], json!(windows), "a point per window");
    for d in ["overall", "continuity", "rhythm"] {
        assert!(
            seen["dims"].as_array().unwrap().contains(&json!(d)),
            "{d} line"
        );
    }
    // The stream's sync figure, as the evaluator reported it in the summary.
    let summary = of("summary").next().expect("a summary record");
    let expect = match summary["sync"]["audio_delay_ms"].as_f64() {
        Some(d) => format!("Audio late by {:.1} ms", d.abs()),
        None => "Declined".to_string(),
    };
    assert!(
        seen["sync"].as_str().unwrap().starts_with(&expect),
        "{seen} vs {}",
        summary["sync"]
    );
    let verdict = summary["verdict"]["verdict"].as_str().unwrap();
    assert!(
        seen["ended"]
            .as_str()
            .unwrap()
            .contains(&format!("verdict {verdict}")),
        "{seen}"
    );
    // As a person sees it: a screenshot with something on it (kept with --nocapture's path).
    page.call(
        Some(()),
        "Emulation.setDeviceMetricsOverride",
        json!({"width": 1100, "height": 1100, "deviceScaleFactor": 1, "mobile": false}),
    );
    let shot = page.call(Some(()), "Page.captureScreenshot", json!({"format": "png"}));
    let png = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        shot["data"].as_str().unwrap(),
    )
    .unwrap();
    let path = std::env::temp_dir().join("evalverse-live-page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!("screenshot: {} ({} bytes)", path.display(), png.len());
    assert!(png.len() > 20_000, "screenshot too small to show anything");
    let problems = page.problems.lock().unwrap().clone();
    assert!(problems.is_empty(), "script errors: {problems:?}");
}
