//! `evalverse report`, looked at as a person would: rendered by headless Chromium (Debian's
//! `chromium`), the page loads without console errors, and the DOM holds one marker per cut and
//! per event at the times of the JSON records.
mod common;

use evalverse::sender::synth::SceneSpec;
use serde_json::Value;
use std::path::Path;
use std::process::Command;

fn evalverse(args: &[&str]) -> String {
    let out = common::evalverse_cli(args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The DOM after load, the console messages, and a screenshot.
fn chromium(page: &Path, png: &Path) -> (String, Vec<String>) {
    let url = format!("file://{}", page.display());
    let run = |extra: &[&str]| {
        Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
            ])
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium (scripts/install-deps.sh installs it)")
    };
    let dom = run(&["--dump-dom"]);
    let shot = run(&[
        &format!("--screenshot={}", png.display()),
        "--window-size=1100,1000",
    ]);
    let console = [&dom.stderr, &shot.stderr]
        .iter()
        .flat_map(|e| {
            String::from_utf8_lossy(e)
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains(":CONSOLE"))
        .collect();
    (String::from_utf8_lossy(&dom.stdout).to_string(), console)
}

/// `evalverse report` of a media file into `dir/name.html`, as headless Chromium shows it
/// (its DOM; no console messages).
fn report_dom(clip: &Path, dir: &Path, name: &str) -> String {
    let page = dir.join(format!("{name}.html"));
    evalverse(&[
        "report",
        clip.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    let (dom, console) = chromium(&page, &dir.join(format!("{name}.png")));
    assert!(console.is_empty(), "console messages: {console:?}");
    dom
}

/// Values of `attr` on the elements whose class list starts with `class`.
fn attrs(dom: &str, class: &str, attr: &str) -> Vec<f64> {
    dom.split('<')
        .filter(|tag| tag.contains(&format!("class=\"{class}")))
        .filter_map(|tag| {
            let key = format!("{attr}=\"");
            let rest = &tag[tag.find(&key)? + key.len()..];
            rest[..rest.find('"')?].parse().ok()
        })
        .collect()
}

#[test]
fn a_run_report_shows_every_cut_and_event_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let spec = SceneSpec {
        duration_s: 10.0,
        cuts: vec![2.1, 4.3, 7.2],
        freeze: vec![(5.0, 6.2)],
        audio_delay_ms: 150.0,
        ..Default::default()
    };
    let clip = common::clip(dir.path(), "run", &spec);
    let jsonl = dir.path().join("run.jsonl");
    std::fs::write(
        &jsonl,
        evalverse(&["eval", clip.to_str().unwrap(), "--json", "--backend", "cpu"]),
    )
    .unwrap();
    let records: Vec<Value> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let page = dir.path().join("run.html");
    evalverse(&[
        "report",
        jsonl.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "the page fetches nothing"
    );

    let png = dir.path().join("run.png");
    let (dom, console) = chromium(&page, &png);
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(
        std::fs::metadata(&png).unwrap().len() > 20_000,
        "screenshot too small to show anything"
    );

    let mut cut_t: Vec<f64> = records
        .iter()
        .filter(|r| r["type"] == "cut")
        .map(|r| r["pts"].as_f64().unwrap())
        .collect();
    let mut drawn = attrs(&dom, "cut", "data-t");
    cut_t.sort_by(f64::total_cmp);
    drawn.sort_by(f64::total_cmp);
    assert!(cut_t.len() >= 3);
    assert_eq!(drawn, cut_t, "one marker per cut, at its time");
    let ev: Vec<f64> = records
        .iter()
        .filter(|r| r["type"] == "event")
        .map(|r| r["start"].as_f64().unwrap())
        .collect();
    assert_eq!(
        attrs(&dom, "event", "data-start"),
        ev,
        "one marker per event, at its start"
    );
    assert!(
        ev.iter().any(|s| (s - 5.0).abs() < 0.05),
        "the freeze is among the events: {ev:?}"
    );
    for d in ["overall", "continuity", "rhythm", "sync"] {
        assert!(
            dom.contains(&format!("data-dimension=\"{d}\"")),
            "no {d} line"
        );
    }
    assert!(dom.contains("Audio late by 150.0 ms"), "the sync figure");
    // The evidence behind it: the correlation against lag, peaking at the committed delay.
    let curve = &records.last().unwrap()["sync"]["correlation"];
    let values: Vec<f64> = curve["values"]
        .as_array()
        .expect("the summary carries the correlation curve")
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let peak = values.iter().position(|v| *v == 1.0).unwrap();
    let peak_ms =
        curve["from_ms"].as_f64().unwrap() + peak as f64 * curve["step_ms"].as_f64().unwrap();
    assert!(
        (peak_ms - 150.0).abs() <= 10.0,
        "correlation peaks at {peak_ms} ms"
    );
    assert!(
        dom.contains("class=\"sync-correlation\""),
        "the curve is drawn"
    );
    let committed = attrs(&dom, "committed", "data-ms");
    assert_eq!(committed.len(), 1);
    assert!((committed[0] - 150.0).abs() < 1.0, "{committed:?}");
    assert_eq!(attrs(&dom, "best-lag", "data-ms").len(), 1);
    // The same page from the media file itself (evaluated first), with thumbnails: the first
    // frame of every shot and the frame each event starts at, inline.
    let dom = report_dom(&clip, dir.path(), "direct");
    assert_eq!(attrs(&dom, "cut", "data-t").len(), cut_t.len());
    let shots = attrs(&dom, "shot-thumb", "data-t");
    assert_eq!(shots.len(), cut_t.len() + 1, "one thumbnail per shot");
    assert_eq!(
        attrs(&dom, "event-thumb", "data-t"),
        ev,
        "one thumbnail per event"
    );
    assert!(
        dom.contains("src=\"data:image/png;base64,iVBOR"),
        "inline PNG"
    );
}

#[test]
fn a_batch_report_has_a_row_per_clip_and_links_their_reports() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir_all(&set).unwrap();
    for k in 0..3 {
        let spec = SceneSpec {
            duration_s: 5.0,
            cuts: vec![1.7, 3.2],
            seed: k,
            ..Default::default()
        };
        common::clip(&set, &format!("c{k}"), &spec);
    }
    let results = dir.path().join("results.jsonl");
    evalverse(&[
        "score",
        set.to_str().unwrap(),
        "--out",
        results.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    std::fs::write(dir.path().join("c1.mp4.html"), "<p>c1</p>").unwrap();
    let page = dir.path().join("batch.html");
    evalverse(&[
        "report",
        results.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    let (dom, console) = chromium(&page, &dir.path().join("batch.png"));
    assert!(
        console.is_empty(),
        "console messages (the sorting script must parse): {console:?}"
    );
    assert_eq!(dom.matches("<tr class=\"clip\"").count(), 3, "{dom}");
    assert_eq!(
        dom.matches("class=\"histogram\"").count(),
        6,
        "one per dimension (overall, sync, continuity, rhythm, sound, picture)"
    );
    assert!(dom.contains("href=\"c1.mp4.html\"") && !dom.contains("href=\"c0.mp4.html\""));
}

/// A file without sound gets its thumbnails too (the thumbnail pipeline once waited 30 s for
/// a sound branch that never came, then drew none).
#[test]
fn a_clip_without_sound_has_its_thumbnails() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("silent.mp4");
    let line = format!(
        "videotestsrc num-buffers=75 pattern=ball ! video/x-raw,width=320,height=180,framerate=25/1 ! \
         videoconvert ! x264enc speed-preset=ultrafast ! mp4mux ! filesink location={}",
        clip.display()
    );
    let status = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(line.split_whitespace())
        .status()
        .expect("gst-launch-1.0 (scripts/install-deps.sh installs it)");
    assert!(status.success());
    let page = dir.path().join("silent.html");
    evalverse(&[
        "report",
        clip.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
        "--backend",
        "cpu",
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("class=\"shot-thumb\""),
        "the first shot's frame is drawn"
    );
}

/// A shot's thumbnail is its own first frame, also in an MP4 whose edit list starts the picture
/// at 0.08 s (x264 with B-frames): the records' times are running times, and the thumbnail of
/// the cut at 2 s once showed the last frame of the shot before.
#[test]
fn a_shot_thumbnail_is_the_shot_itself_in_a_file_with_an_edit_list() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("red-blue.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            // Two shots of different pictures, a red and a blue patch at their centres.
            "testsrc2=s=320x180:r=25:d=2,drawbox=x=110:y=60:w=100:h=60:color=red:t=fill",
        ])
        .args([
            "-f",
            "lavfi",
            "-i",
            "smptebars=s=320x180:r=25:d=2,drawbox=x=110:y=60:w=100:h=60:color=blue:t=fill",
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=300:duration=4"])
        .args([
            "-filter_complex",
            "[0][1]concat=n=2:v=1:a=0[v]",
            "-map",
            "[v]",
            "-map",
            "2",
        ])
        .args([
            "-c:v", "libx264", "-bf", "2", "-pix_fmt", "yuv420p", "-c:a", "aac",
        ])
        .arg(&clip)
        .status()
        .unwrap()
        .success();
    assert!(ok, "ffmpeg");
    let got =
        evalverse::ingest::thumbs::grab(clip.to_str().unwrap(), &[0.0, 1.96, 2.0], 64).unwrap();
    let rgb = |ms: i64| {
        let png = png::Decoder::new(std::io::Cursor::new(got[&ms].clone()));
        let mut r = png.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        let i = (info.height as usize / 2 * info.width as usize + info.width as usize / 2) * 3;
        (buf[i], buf[i + 1], buf[i + 2])
    };
    let red = |(r, g, b): (u8, u8, u8)| r > 200 && g < 60 && b < 60;
    let blue = |(r, g, b): (u8, u8, u8)| b > 200 && r < 60 && g < 60;
    assert!(red(rgb(0)), "first frame {:?}", rgb(0));
    assert!(red(rgb(1960)), "last red frame {:?}", rgb(1960));
    assert!(
        blue(rgb(2000)),
        "the blue shot's first frame {:?}",
        rgb(2000)
    );

    // The report as the browser shows it: one thumbnail per shot, at the shot's time, showing
    // that shot (red, then blue).
    let dom = report_dom(&clip, dir.path(), "red-blue");
    let shots: Vec<(f64, (u8, u8, u8))> = dom
        .split('<')
        .filter(|tag| tag.starts_with("img") && tag.contains("class=\"shot-thumb"))
        .map(|tag| {
            let field = |key: &str| {
                let rest = &tag[tag.find(key).unwrap() + key.len()..];
                rest[..rest.find('"').unwrap()].to_string()
            };
            let t: f64 = field("data-t=\"").parse().unwrap();
            let src = field("src=\"data:image/png;base64,");
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(src)
                .unwrap();
            let png = png::Decoder::new(std::io::Cursor::new(bytes));
            let mut r = png.read_info().unwrap();
            let mut buf = vec![0; r.output_buffer_size().unwrap()];
            let info = r.next_frame(&mut buf).unwrap();
            let c = info.color_type.samples();
            let i = (info.height as usize / 2 * info.width as usize + info.width as usize / 2) * c;
            (t, (buf[i], buf[i + 1], buf[i + 2]))
        })
        .collect();
    assert_eq!(shots.len(), 2, "one thumbnail per shot: {shots:?}");
    assert!(shots[0].0 == 0.0 && red(shots[0].1), "{shots:?}");
    assert!(
        (shots[1].0 - 2.0).abs() < 0.05 && blue(shots[1].1),
        "{shots:?}"
    );
}
