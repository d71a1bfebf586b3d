//! The control plane under attack, for real: an HTTP server on loopback (the library's
//! `http::serve`, as `evalverse serve` runs it, in-process so each test can give it its own
//! `[server]` settings), talked to over raw TCP sockets so every header is ours to choose; and
//! the `evalverse` binary for what the command line decides (token sources, refusing to expose
//! itself).
mod common;
use common::{Killed, Server, free_tcp, wait_for};
use evalverse::config::Settings;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN: &str = "correct-horse-battery-staple-42";
const SECRET: &str = "SECRET-7f3c91-do-not-leak";

/// `GET path` with the token.
trait Get {
    fn get(&self, path: &str) -> (u16, String);
}

impl Get for Server {
    fn get(&self, path: &str) -> (u16, String) {
        request(self.addr, "GET", path, &[auth()], None)
    }
}

fn auth() -> (&'static str, String) {
    ("Authorization", format!("Bearer {TOKEN}"))
}

fn json() -> (&'static str, String) {
    ("Content-Type", "application/json".into())
}

/// Decode a chunked body (what the server sends for streams); other bodies pass through.
fn dechunk(head: &str, body: &[u8]) -> Vec<u8> {
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_vec();
    }
    let mut out = vec![];
    let mut rest = body;
    while let Some(i) = rest.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16).unwrap_or(0);
        rest = &rest[i + 2..];
        if size == 0 || rest.len() < size {
            out.extend_from_slice(&rest[..size.min(rest.len())]);
            break;
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
    out
}

/// One request on its own connection; (status, body). Headers are sent exactly as given:
/// `Host` defaults to the address unless one is given.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Option<&str>,
) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\n");
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        req += &format!("Host: {addr}\r\n");
    }
    for (k, v) in headers {
        req += &format!("{k}: {v}\r\n");
    }
    if let Some(b) = body {
        req += &format!("Content-Length: {}\r\n", b.len());
    }
    req += "\r\n";
    req += body.unwrap_or_default();
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = vec![];
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = dechunk(&head, raw.get(split + 4..).unwrap_or_default());
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, String::from_utf8_lossy(&body).to_string())
}

fn post(addr: SocketAddr, body: &str) -> (u16, String) {
    request(addr, "POST", "/v1/streams", &[auth(), json()], Some(body))
}

/// Collect `/v1/events` for as long as the returned guard lives.
fn listen_to_events(addr: SocketAddr) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let seen = Arc::new(Mutex::new(String::new()));
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(
        s,
        "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    )
    .unwrap();
    let seen2 = seen.clone();
    let t = std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut buf = [0u8; 8192];
        while t0.elapsed() < Duration::from_secs(8) {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => seen2
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) => {}
            }
        }
    });
    (seen, t)
}

/// Every endpoint's answer, for checking that a secret appears in none.
fn everything(s: &Server, names: &[&str]) -> String {
    let mut all = String::new();
    for p in ["/v1/streams", "/metrics", "/healthz"] {
        all += &s.get(p).1;
    }
    for n in names {
        all += &s.get(&format!("/v1/streams/{n}")).1;
        all += &s.get(&format!("/v1/streams/{n}/verdict")).1;
    }
    all
}

#[test]
fn the_api_cannot_read_server_files() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret.pipeline");
    std::fs::write(&secret, format!("{SECRET} root:x:0:0\n")).unwrap();
    let srv = Server::start(Settings::default(), Some(TOKEN));
    let (events, reader) = listen_to_events(srv.addr);
    let p = secret.display().to_string();
    let attempts = [
        format!(r#"{{"name":"a","pipeline":"{p}"}}"#),
        format!(r#"{{"name":"b","uri":"file://{p}"}}"#),
        format!(r#"{{"name":"c","uri":"{p}"}}"#),
        format!(r#"{{"name":"d","uri":"file://localhost{p}"}}"#),
        format!(
            r#"{{"name":"e","pipeline":"{}/../{}/secret.pipeline"}}"#,
            p,
            dir.path().file_name().unwrap().to_string_lossy()
        ),
        r#"{"name":"f","pipeline":"../../../../etc/passwd"}"#.to_string(),
        r#"{"name":"g","uri":"http://127.0.0.1:9/x.mp4"}"#.to_string(),
        r#"{"name":"h","uri":"FILE:///etc/passwd"}"#.to_string(),
        format!(r#"{{"name":"i","video":{{"port":5004}},"pipeline":"{p}"}}"#),
    ];
    for body in &attempts {
        let (code, answer) = post(srv.addr, body);
        eprintln!("POST {body} -> {code} {answer}");
        assert_eq!(code, 403, "{body}: {answer}");
        assert!(!answer.contains(SECRET), "{answer}");
    }
    // The same as a browser's form post (text/plain, no token): refused before anything else.
    let (code, _) = request(
        srv.addr,
        "POST",
        "/v1/streams",
        &[("Content-Type", "text/plain".into())],
        Some(&attempts[0]),
    );
    assert_eq!(code, 401);
    let (code, answer) = request(
        srv.addr,
        "POST",
        "/v1/streams",
        &[auth(), ("Content-Type", "text/plain".into())],
        Some(&attempts[0]),
    );
    assert_eq!(code, 415, "{answer}");
    std::thread::sleep(Duration::from_millis(500));
    let all = everything(&srv, &["a", "b", "c", "i"]);
    assert!(!all.contains(SECRET) && !all.contains("root:x"), "{all}");
    assert!(srv.evaluator.streams().is_empty());
    drop(srv);
    reader.join().unwrap();
    assert!(!events.lock().unwrap().contains(SECRET));
}

#[test]
fn allowed_dirs_admit_files_inside_and_errors_never_quote_them() {
    let root = tempfile::tempdir().unwrap();
    let allowed = root.path().join("pipelines");
    let outside = root.path().join("private");
    std::fs::create_dir_all(&allowed).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    // Files inside the allowed directory that are not what they claim: a "pipeline" that is
    // not a launch description, one with an unknown placeholder, and a "video" that is text.
    std::fs::write(
        allowed.join("bad.pipeline"),
        format!("{SECRET} ! appsink name=video\n"),
    )
    .unwrap();
    std::fs::write(
        allowed.join("placeholder.pipeline"),
        format!(
            "videotestsrc ! {{{}}} ! appsink name=video\n",
            SECRET.replace('-', "_")
        ),
    )
    .unwrap();
    std::fs::write(allowed.join("clip.mp4"), format!("{SECRET}\n").repeat(200)).unwrap();
    let private = outside.join("key.pipeline");
    std::fs::write(&private, format!("{SECRET}\n")).unwrap();
    std::os::unix::fs::symlink(&private, allowed.join("link.pipeline")).unwrap();

    let mut settings = Settings::default();
    settings.server.api_sources.dirs = vec![allowed.clone()];
    let srv = Server::start(settings, Some(TOKEN));
    let (events, reader) = listen_to_events(srv.addr);
    let a = allowed.display();
    for body in [
        format!(r#"{{"name":"link","pipeline":"{a}/link.pipeline"}}"#),
        format!(r#"{{"name":"up","pipeline":"{a}/../private/key.pipeline"}}"#),
        format!(r#"{{"name":"dir","pipeline":"{a}"}}"#),
        format!(r#"{{"name":"out","uri":"file://{}"}}"#, private.display()),
    ] {
        let (code, answer) = post(srv.addr, &body);
        assert_eq!(code, 403, "{body}: {answer}");
    }
    for body in [
        format!(r#"{{"name":"bad","pipeline":"{a}/bad.pipeline"}}"#),
        format!(r#"{{"name":"ph","pipeline":"{a}/placeholder.pipeline"}}"#),
        format!(r#"{{"name":"text","uri":"file://{a}/clip.mp4"}}"#),
    ] {
        let (code, answer) = post(srv.addr, &body);
        assert_eq!(code, 201, "{body}: {answer}");
    }
    wait_for("the three streams to fail", 20.0, || {
        let (_, list) = srv.get("/v1/streams");
        list.matches("\"state\":\"failed\"").count() == 3
    });
    let (_, list) = srv.get("/v1/streams");
    eprintln!("{list}");
    assert!(list.contains("own pipeline could not be started"), "{list}");
    let all = everything(&srv, &["bad", "ph", "text"]);
    assert!(
        !all.contains(SECRET) && !all.contains(&SECRET.replace('-', "_")),
        "{all}"
    );
    drop(srv);
    reader.join().unwrap();
    let events = events.lock().unwrap();
    assert!(events.contains("\"state\":\"failed\""), "{events}");
    assert!(
        !events.contains(SECRET) && !events.contains(&SECRET.replace('-', "_")),
        "{events}"
    );
}

#[test]
fn token_host_origin_and_content_type_are_enforced() {
    let mut settings = Settings::default();
    settings.server.allowed_hosts = vec!["evalverse.internal".into()];
    settings.server.allowed_origins = vec!["http://dashboard.internal:3000".into()];
    let srv = Server::start(settings, Some(TOKEN));
    let addr = srv.addr;
    let port = addr.port();
    let get = |path: &str, headers: &[(&str, String)]| request(addr, "GET", path, headers, None).0;

    // Host: two of them are ambiguous, none on a loopback bind says nothing about who asks.
    let raw = |head: &str| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(head.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let two = raw(&format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    ));
    assert!(
        two.starts_with("HTTP/1.1 400") && two.contains("more than one Host"),
        "{two}"
    );
    let none = raw("GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(
        none.starts_with("HTTP/1.1 400") && none.contains("Host header is required"),
        "{none}"
    );

    // Token: every /v1 endpoint needs it; /metrics and /healthz stay open by default.
    for path in [
        "/v1/streams",
        "/v1/streams/x",
        "/v1/streams/x/verdict",
        "/v1/events",
    ] {
        assert_eq!(get(path, &[]), 401, "{path}");
        assert_eq!(
            get(path, &[("Authorization", "Bearer wrong-token".into())]),
            401,
            "{path}"
        );
        assert_eq!(
            get(path, &[("Authorization", format!("Bearer {TOKEN}x"))]),
            401
        );
        assert_eq!(get(path, &[("Authorization", TOKEN.into())]), 401);
    }
    assert_eq!(get("/v1/streams", &[auth()]), 200);
    assert_eq!(
        get(
            "/v1/streams",
            &[("Authorization", format!("bearer {TOKEN}"))]
        ),
        200
    );
    assert_eq!(get("/metrics", &[]), 200);
    assert_eq!(get("/healthz", &[]), 200);
    let (code, _) = request(addr, "DELETE", "/v1/streams/x", &[], None);
    assert_eq!(code, 401);

    // Host: loopback names and the configured extra name only (DNS rebinding).
    for host in [
        format!("localhost:{port}"),
        format!("127.0.0.1:{port}"),
        format!("[::1]:{port}"),
        "LOCALHOST".into(),
        format!("evalverse.internal:{port}"),
    ] {
        assert_eq!(get("/healthz", &[("Host", host.clone())]), 200, "{host}");
    }
    for host in [
        format!("attacker.example:{port}"),
        "attacker.example".into(),
        format!("0.0.0.0:{port}"),
        format!("localhost.attacker.example:{port}"),
        "localhost:notaport".into(),
        "[::1".into(),
    ] {
        assert_eq!(
            get("/v1/streams", &[("Host", host.clone()), auth()]),
            403,
            "{host}"
        );
    }
    assert_eq!(
        get("http://attacker.example/v1/streams", &[auth()]),
        403,
        "absolute-form target"
    );

    // Origin: the server's own or a listed one.
    for (origin, want) in [
        (format!("http://127.0.0.1:{port}"), 200),
        ("http://dashboard.internal:3000".into(), 200),
        ("http://attacker.example".into(), 403),
        (format!("http://localhost:{}", port + 1), 403),
        ("null".into(), 403),
    ] {
        assert_eq!(
            get("/v1/streams", &[("Origin", origin.clone()), auth()]),
            want,
            "{origin}"
        );
    }

    // Content type of mutating requests.
    let def = r#"{"name":"cam","video":{"port":0}}"#;
    for ct in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
    ] {
        let mut h = vec![auth()];
        if let Some(ct) = ct {
            h.push(("Content-Type", ct.into()));
        }
        assert_eq!(
            request(addr, "POST", "/v1/streams", &h, Some(def)).0,
            415,
            "{ct:?}"
        );
    }
    let (code, body) = request(
        addr,
        "POST",
        "/v1/streams",
        &[
            auth(),
            ("Content-Type", "application/json; charset=utf-8".into()),
        ],
        Some(def),
    );
    assert_eq!(code, 400, "{body}");

    // Out-of-range definitions: 400 naming the field.
    for (def, field) in [
        (r#"{"name":"cam","video":{"port":0}}"#, "video.port"),
        (r#"{"name":"cam","video":{"port":70000}}"#, "video.port"),
        (
            r#"{"name":"cam","video":{"port":5004,"codec":"raw","width":100000,"height":720}}"#,
            "video.width",
        ),
        (
            r#"{"name":"cam","video":{"port":5004,"codec":"raw","width":1280,"height":99999999999}}"#,
            "video.height",
        ),
        (
            r#"{"name":"cam","audio":{"port":5006,"codec":"l16","channels":4096}}"#,
            "audio.channels",
        ),
        (
            r#"{"name":"cam","audio":{"port":5006,"codec":"l16","clock_rate":1}}"#,
            "audio.clock_rate",
        ),
        (
            r#"{"name":"cam","video":{"port":5004},"latency_ms":0}"#,
            "latency_ms",
        ),
        (
            r#"{"name":"cam","video":{"port":5004},"latency_ms":-5}"#,
            "latency_ms",
        ),
        (
            r#"{"name":"cam","video":{"port":5004},"stall_timeout_s":1e300}"#,
            "stall_timeout_s",
        ),
        (
            r#"{"name":"cam","video":{"port":5004,"payload":300}}"#,
            "video.payload",
        ),
        (
            r#"{"name":"../../etc","video":{"port":5004}}"#,
            "streams.name",
        ),
        (
            r#"{"name":"cam\"} 1\n# HELP","video":{"port":5004}}"#,
            "streams.name",
        ),
        (
            r#"{"name":"cam","video":{"port":5004},"address":"0.0.0.0; rm"}"#,
            "address",
        ),
        (r#"{"name":"cam","video":{"port":5004},"extra":1}"#, "extra"),
    ] {
        let (code, body) = post(addr, def);
        eprintln!("POST {def} -> {code} {body}");
        assert_eq!(code, 400, "{def}: {body}");
        assert!(body.contains(field), "{def}: {body} does not name {field}");
    }
    let long = format!(r#"{{"name":"{}","video":{{"port":5004}}}}"#, "a".repeat(65));
    assert_eq!(post(addr, &long).0, 400);
    let huge = format!(r#"{{"name":"cam","uri":"{}"}}"#, "a".repeat(20_000));
    assert_eq!(post(addr, &huge).0, 413);
    drop(srv);

    // /metrics behind the token when the operator says so.
    let mut settings = Settings::default();
    settings.server.open_metrics = false;
    let srv = Server::start(settings, Some(TOKEN));
    assert_eq!(request(srv.addr, "GET", "/metrics", &[], None).0, 401);
    assert_eq!(srv.get("/metrics").0, 200);
    assert_eq!(request(srv.addr, "GET", "/healthz", &[], None).0, 200);
}

/// Read until the server closes the connection (or `limit` passes); the time it took.
fn time_to_close(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; 1024];
    while t0.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => {}
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return Some(t0.elapsed()),
        }
    }
    None
}

#[test]
fn slow_and_greedy_clients_are_cut_off() {
    let mut settings = Settings::default();
    settings.server.header_timeout_s = 1.0;
    settings.server.request_timeout_s = 2.0;
    settings.server.max_connections = 6;
    settings.server.max_event_clients = 2;
    let srv = Server::start(settings, Some(TOKEN));
    let addr = srv.addr;

    // A client that dribbles its header a byte every 200 ms is closed after ~1 s.
    let mut slow = TcpStream::connect(addr).unwrap();
    let line = format!(
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Slow: {}",
        "a".repeat(100)
    );
    let t0 = Instant::now();
    let mut closed_after = None;
    for b in line.bytes() {
        if slow.write_all(&[b]).is_err() {
            closed_after = Some(t0.elapsed());
            break;
        }
        if let Some(d) = time_to_close(&mut slow, Duration::from_millis(200)) {
            closed_after = Some(t0.elapsed().max(d));
            break;
        }
    }
    let closed_after = closed_after.expect("the slow-header client was never cut off");
    eprintln!("slow header: closed after {closed_after:?}");
    assert!(
        closed_after >= Duration::from_millis(900) && closed_after < Duration::from_secs(3),
        "{closed_after:?}"
    );

    // A connection that sends nothing, and an idle keep-alive connection, are closed too.
    let mut idle = TcpStream::connect(addr).unwrap();
    let d = time_to_close(&mut idle, Duration::from_secs(5)).expect("idle connection kept");
    eprintln!("idle connection: closed after {d:?}");
    assert!(d < Duration::from_secs(3), "{d:?}");
    let mut keep = TcpStream::connect(addr).unwrap();
    write!(keep, "GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let d = time_to_close(&mut keep, Duration::from_secs(5)).expect("keep-alive kept");
    eprintln!("idle keep-alive after a request: closed after {d:?}");
    assert!(d < Duration::from_secs(3), "{d:?}");

    // A body that never arrives: 408 after the request timeout.
    let mut body = TcpStream::connect(addr).unwrap();
    write!(
        body,
        "POST /v1/streams HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\""
    )
    .unwrap();
    let t0 = Instant::now();
    body.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    let mut answer = String::new();
    let _ = body.read_to_string(&mut answer);
    eprintln!(
        "slow body: {:?} after {:?}",
        answer.lines().next(),
        t0.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(t0.elapsed() < Duration::from_secs(4), "{:?}", t0.elapsed());

    // Event-stream clients are capped.
    let open_events = || {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut buf = [0u8; 256];
        let n = s.read(&mut buf).unwrap_or(0);
        (s, String::from_utf8_lossy(&buf[..n]).to_string())
    };
    let (e1, a1) = open_events();
    let (e2, a2) = open_events();
    let (e3, a3) = open_events();
    assert!(
        a1.starts_with("HTTP/1.1 200") && a2.starts_with("HTTP/1.1 200"),
        "{a1} {a2}"
    );
    assert!(a3.starts_with("HTTP/1.1 503"), "{a3}");
    drop(e3);
    std::thread::sleep(Duration::from_millis(300));

    // Connections are capped: with 2 event streams open, 4 idle connections fill the cap; a
    // new one sheds the oldest idle one, which is told why (503) rather than reset.
    let mut held: Vec<TcpStream> = vec![];
    for _ in 0..4 {
        held.push(TcpStream::connect(addr).unwrap());
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    let (code, _) = request(addr, "GET", "/healthz", &[], None);
    assert_eq!(
        code, 200,
        "a request that arrives at once gets in by shedding an idle one"
    );
    held[0]
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut answer = String::new();
    let _ = held[0].read_to_string(&mut answer);
    // (On a slow machine its own head timeout, 1 s here, may have come first.)
    assert!(
        (answer.starts_with("HTTP/1.1 503") && answer.contains("slowest"))
            || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
    drop(held);
    // With every slot past its request head (4 bodies that never arrive), there is nothing
    // to shed: the next connection is answered 503 in words.
    std::thread::sleep(Duration::from_millis(1500));
    let bodies: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut b = TcpStream::connect(addr).unwrap();
            write!(
                b,
                "POST /v1/streams HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
            )
            .unwrap();
            b
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut extra = TcpStream::connect(addr).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut answer = String::new();
    let _ = extra.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer:?}");
    drop(bodies);
    drop((e1, e2));
    // Once they are gone (the held ones time out), the server answers again.
    wait_for("a free connection", 20.0, || {
        request(addr, "GET", "/healthz", &[], None).0 == 200
    });
    wait_for("a free event-stream slot", 30.0, || {
        open_events().1.starts_with("HTTP/1.1 200")
    });
}

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_evalverse"));
    c.env_remove("EVALVERSE_TOKEN");
    c
}

#[test]
fn serve_will_not_expose_itself_without_a_token() {
    // Refused before anything is loaded.
    let port = free_tcp();
    let t0 = Instant::now();
    let out = bin()
        .args([
            "serve",
            "--backend",
            "cpu",
            "--listen",
            &format!("0.0.0.0:{port}"),
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("{err} ({:?})", t0.elapsed());
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("refusing to listen on 0.0.0.0"), "{err}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    // The token is never shown by --help, even when it comes from the environment.
    let help = bin()
        .args(["serve", "--help"])
        .env("EVALVERSE_TOKEN", SECRET)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--token-file") && !help.contains(SECRET),
        "{help}"
    );

    // A token file makes it safe; the token then guards the API.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let _serve = Killed(
        bin()
            .args([
                "serve",
                "--backend",
                "cpu",
                "--listen",
                &format!("0.0.0.0:{port}"),
                "--token-file",
            ])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for("serve with --token-file", 60.0, || {
        TcpStream::connect(addr).is_ok() && request(addr, "GET", "/healthz", &[], None).0 == 200
    });
    assert_eq!(request(addr, "GET", "/v1/streams", &[], None).0, 401);
    assert_eq!(
        request(
            addr,
            "GET",
            "/v1/streams",
            &[("Authorization", "Bearer nope".into())],
            None
        )
        .0,
        401
    );
    assert_eq!(request(addr, "GET", "/v1/streams", &[auth()], None).0, 200);
    drop(_serve);

    // --insecure-no-token starts, loudly.
    let port = free_tcp();
    let mut child = Killed(
        bin()
            .args([
                "serve",
                "--backend",
                "cpu",
                "--insecure-no-token",
                "--listen",
                &format!("0.0.0.0:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for("serve --insecure-no-token", 60.0, || {
        TcpStream::connect(addr).is_ok() && request(addr, "GET", "/healthz", &[], None).0 == 200
    });
    let _ = child.0.kill();
    let mut err = String::new();
    child
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("WITHOUT A TOKEN"), "{err}");
}

/// Slowloris: 300 connections that each send a byte a second, reopened as they are closed,
/// against the default limits (256 connections, 10 s head timeout). Prometheus scrapes and
/// health checks must keep being answered: the slowest connections still sending their heads
/// are shed to make room.
#[test]
fn slow_clients_do_not_take_the_server_offline() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let srv = Server::start(Settings::default(), Some(TOKEN));
    let addr = srv.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let opened = Arc::new(AtomicU64::new(0));
    let attackers: Vec<_> = (0..300)
        .map(|i| {
            let (stop, opened) = (stop.clone(), opened.clone());
            std::thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || {
                    let line = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nX-Pad-{i}: ");
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(mut s) = TcpStream::connect(addr) else {
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        };
                        opened.fetch_add(1, Ordering::Relaxed);
                        for b in line.bytes().chain(std::iter::repeat(b'a')) {
                            if stop.load(Ordering::Relaxed) || s.write_all(&[b]).is_err() {
                                break;
                            }
                            std::thread::sleep(Duration::from_secs(1));
                        }
                    }
                })
                .unwrap()
        })
        .collect();
    // Let the attack fill the slots.
    std::thread::sleep(Duration::from_secs(5));
    let mut answered = vec![];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(20) {
        let t = Instant::now();
        let ok = std::panic::catch_unwind(|| request(addr, "GET", "/healthz", &[], None).0)
            .unwrap_or(0)
            == 200;
        answered.push((ok, t.elapsed()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let metrics_ok = (0..10)
        .filter(|_| request(addr, "GET", "/metrics", &[auth()], None).0 == 200)
        .count();
    stop.store(true, Ordering::Relaxed);
    for a in attackers {
        let _ = a.join();
    }
    let n = answered.len();
    let ok = answered.iter().filter(|(o, _)| *o).count();
    let mut lat: Vec<Duration> = answered
        .iter()
        .filter(|(o, _)| *o)
        .map(|(_, d)| *d)
        .collect();
    lat.sort();
    let p = |q: f64| {
        lat.get(((lat.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or_default()
    };
    eprintln!(
        "measured: under 300 slow clients ({} connections opened), /healthz answered {ok} of {n} \
         probes (latency median {:?}, p95 {:?}, max {:?}); /metrics {metrics_ok} of 10",
        opened.load(Ordering::Relaxed),
        p(0.5),
        p(0.95),
        lat.last().copied().unwrap_or_default()
    );
    assert!(ok * 100 >= n * 95, "/healthz answered {ok} of {n} probes");
    assert!(metrics_ok >= 9, "/metrics answered {metrics_ok} of 10");
    assert!(
        p(0.95) < Duration::from_secs(1),
        "p95 latency {:?}",
        p(0.95)
    );
}

/// Operator inputs that never end or are far too large — `/dev/zero`, a FIFO nobody writes, a
/// 3 GB file of NULs, a 100 MB one-line config — as the config, the calibration or the token
/// file: each is refused within seconds, with a short message (no echo of the content), and
/// without reading it all.
#[test]
fn operator_files_that_never_end_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let nuls = dir.path().join("nuls.toml");
    std::fs::File::create(&nuls)
        .unwrap()
        .set_len(3 << 30)
        .unwrap();
    let line = dir.path().join("line.toml");
    std::fs::write(&line, format!("x = \"{}", "y".repeat(100 << 20))).unwrap();
    let small_bad = dir.path().join("bad.toml");
    std::fs::write(
        &small_bad,
        format!("[analysis]\nwindow_s = \"{}\"\n", "z".repeat(50_000)),
    )
    .unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, format!("{TOKEN}\n")).unwrap();
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let fifo = fifo.to_str().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["--config".into(), "/dev/zero".into()],
            "character device",
        ),
        (vec!["--config".into(), fifo.into()], "FIFO"),
        (
            vec!["--config".into(), nuls.to_str().unwrap().into()],
            "more than",
        ),
        (
            vec!["--config".into(), line.to_str().unwrap().into()],
            "more than",
        ),
        (
            vec!["--config".into(), small_bad.to_str().unwrap().into()],
            "line 2: invalid type: string",
        ),
        (
            vec!["--calibration".into(), "/dev/zero".into()],
            "character device",
        ),
        (vec!["--calibration".into(), fifo.into()], "FIFO"),
        (
            vec!["--token-file".into(), "/dev/zero".into()],
            "not a regular file",
        ),
    ];
    for (args, says) in cases {
        let t0 = Instant::now();
        let mut cmd = bin();
        cmd.args([
            "serve",
            "--backend",
            "cpu",
            "--listen",
            &format!("127.0.0.1:{}", free_tcp()),
        ])
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
        if !args.contains(&"--token-file".to_string()) {
            cmd.arg("--token-file").arg(&token);
        }
        let mut child = Killed(cmd.spawn().unwrap());
        let mut waited = None;
        while t0.elapsed() < Duration::from_secs(15) {
            if let Some(status) = child.0.try_wait().unwrap() {
                waited = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let took = t0.elapsed();
        let status =
            waited.unwrap_or_else(|| panic!("serve {args:?} still running after {took:?}"));
        let mut err = String::new();
        child
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        eprintln!("serve {args:?}: {status} after {took:.2?}: {}", err.trim());
        assert!(!status.success(), "{args:?}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.len() < 2000, "{args:?}: {} bytes of stderr", err.len());
    }
}

/// A stream whose UDP port another process holds is refused when added, naming the port and
/// the stream (GStreamer alone says "element failed to change its state").
#[test]
fn a_port_another_process_holds_is_named() {
    let holder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let ev = evalverse::output::sinks::evaluator(Settings::default(), common::cpu_model());
    let rtp_port = port & !1;
    let mut s = evalverse::StreamSettings::rtp("cam7", Some(rtp_port), None);
    s.address = "127.0.0.1".into();
    let e = ev.add_stream(s).unwrap_err().to_string();
    eprintln!("{e}");
    assert!(e.contains(&port.to_string()) && e.contains("cam7"), "{e}");
    assert!(ev.stream("cam7").is_none());
}
