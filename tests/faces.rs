//! The face networks ported to Burn agree with MediaPipe's own runtime: on three frames of
//! generated talking characters (`tests/data/faces/`, made once with the TFLite runtime of the
//! `mediapipe` 0.10.21 models, see its README), the detector's best anchor, its box and
//! keypoints, and the mesh's 468 points and face flag match the reference.
mod common;

use evalverse::config::Settings;
use evalverse::model::faces::{FaceModels, Rgb, detect};
use serde_json::Value;
use std::path::Path;

fn dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/faces"))
}

/// An 8-bit RGB PNG: width, height, pixels.
fn png(name: &str) -> (usize, usize, Vec<u8>) {
    let f = std::fs::File::open(dir().join(name)).unwrap();
    let mut r = png::Decoder::new(std::io::BufReader::new(f))
        .read_info()
        .unwrap();
    let mut buf = vec![0; r.output_buffer_size().unwrap()];
    let info = r.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb, "{name}");
    buf.truncate(info.buffer_size());
    (info.width as usize, info.height as usize, buf)
}

/// The device the face networks run on with the CPU backend.
fn cpu() -> burn::tensor::Device {
    evalverse::model::backend::cpu_nets_device()
}

fn f(v: &Value) -> f32 {
    v.as_f64().unwrap() as f32
}

#[test]
fn the_burn_port_agrees_with_mediapipes_runtime() {
    let models = FaceModels::load(&cpu()).unwrap();
    let mut refs: Vec<Value> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap())
        .collect();
    refs.sort_by_key(|r| r["detector"]["input_png"].as_str().unwrap().to_string());
    assert_eq!(refs.len(), 3);
    let (mut worst_box, mut worst_raw, mut worst_mesh, mut worst_flag) = (0f32, 0f32, 0f32, 0f32);
    for r in &refs {
        let det = &r["detector"];
        let (w, h, pixels) = png(det["input_png"].as_str().unwrap());
        let pic = Rgb {
            width: w,
            height: h,
            data: &pixels,
        };
        let raw = models.detect_raw(&[pic]).unwrap().remove(0);
        let all = detect::decode(&raw.regressors, &raw.logits, detect::MIN_SCORE);
        assert_eq!(
            all.len() as u64,
            det["num_above_threshold"].as_u64().unwrap(),
            "{}: anchors above 0.5",
            det["input_png"]
        );
        for (mine, theirs) in all.iter().zip(det["detections"].as_array().unwrap()) {
            assert_eq!(mine.anchor as u64, theirs["anchor"].as_u64().unwrap());
            assert!((mine.score - f(&theirs["score"])).abs() < 1e-4);
            let px = |v: f32| v * detect::INPUT as f32;
            let rect = [
                (px(mine.rect[0]), &theirs["xmin"]),
                (px(mine.rect[1]), &theirs["ymin"]),
                (px(mine.rect[2]), &theirs["xmax"]),
                (px(mine.rect[3]), &theirs["ymax"]),
            ];
            for (a, b) in rect {
                worst_box = worst_box.max((a - f(b)).abs());
            }
            for (k, p) in mine.keypoints.iter().enumerate() {
                let q = &theirs["keypoints"][k];
                worst_box = worst_box.max((px(p[0]) - f(&q[0])).abs());
                worst_box = worst_box.max((px(p[1]) - f(&q[1])).abs());
            }
            let row = &raw.regressors[mine.anchor * detect::COORDS..][..detect::COORDS];
            for (a, b) in row.iter().zip(theirs["raw_regressors"].as_array().unwrap()) {
                worst_raw = worst_raw.max((a - f(b)).abs());
            }
        }
        let faces = models.detect(&[pic]).unwrap().remove(0);
        assert_eq!(faces.len(), 1, "one face after merging");

        let lm = &r["landmarks"];
        let (w, h, pixels) = png(lm["input_png"].as_str().unwrap());
        let mesh = models
            .landmarks(&[Rgb {
                width: w,
                height: h,
                data: &pixels,
            }])
            .unwrap()
            .remove(0);
        for (p, q) in mesh.points.iter().zip(lm["points"].as_array().unwrap()) {
            for c in 0..3 {
                worst_mesh = worst_mesh.max((p[c] - f(&q[c])).abs());
            }
        }
        worst_flag = worst_flag.max((mesh.face_logit - f(&lm["face_flag_logit"])).abs());
        let opening = mesh.points[13][1] - mesh.points[14][1];
        let reference = f(&lm["mouth_opening_px"]);
        assert!(
            (opening.abs() - reference).abs() < 0.05,
            "{opening} vs {reference}"
        );
    }
    eprintln!(
        "largest differences from the TFLite runtime: box and keypoints {worst_box:.2e} px, raw regressors {worst_raw:.2e}, mesh points {worst_mesh:.2e} px, face-flag logit {worst_flag:.2e}"
    );
    // Within a hundredth of a pixel of the model's input (the issue asks for one pixel).
    assert!(worst_box < 0.01, "{worst_box}");
    assert!(worst_raw < 1e-3, "{worst_raw}");
    assert!(worst_mesh < 0.01, "{worst_mesh}");
    assert!(worst_flag < 1e-2, "{worst_flag}");
}

#[test]
fn a_picture_of_the_wrong_size_is_an_error_not_a_panic() {
    let models = FaceModels::load(&cpu()).unwrap();
    let data = vec![0u8; 64 * 64 * 3];
    let pic = Rgb {
        width: 64,
        height: 64,
        data: &data,
    };
    let e = models.detect(&[pic]).unwrap_err();
    assert!(e.to_string().contains("128×128"), "{e}");
    assert!(models.landmarks(&[pic]).is_err());
}

/// A clip of the committed face crop held still for 6 s over a steady tone, written by
/// GStreamer (the pipeline's own elements), at `dir/face.mp4`.
fn still_face_clip(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("face.mp4");
    let png = dir_png("man_reading_lm192.png");
    let line = format!(
        "filesrc location={png} ! pngdec ! imagefreeze num-buffers=150 ! video/x-raw,framerate=25/1 ! \
         videoconvert ! video/x-raw,format=I420 ! x264enc speed-preset=ultrafast ! mp4mux name=m ! filesink location={out} \
         audiotestsrc num-buffers=282 samplesperbuffer=1024 freq=220 volume=0.3 ! audio/x-raw,rate=48000,channels=1 ! \
         audioconvert ! avenc_aac ! m.",
        out = out.display()
    );
    let status = std::process::Command::new("gst-launch-1.0")
        .arg("-q")
        .args(line.split_whitespace())
        .status()
        .expect("gst-launch-1.0 (scripts/install-deps.sh installs it)");
    assert!(status.success(), "{line}");
    out
}

/// 2.4 s of a flat grey picture, then the committed face crop held for 3.6 s (25 fps, a tone).
fn face_enters_clip(dir: &Path) -> std::path::PathBuf {
    let out = dir.join("enters.mp4");
    let ok = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("color=c=gray:s=192x192:r=25:d=2.4")
        .args(["-loop", "1", "-framerate", "25", "-t", "3.6", "-i"])
        .arg(dir_png("man_reading_lm192.png"))
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=220:sample_rate=48000:duration=6",
        ])
        .args([
            "-filter_complex",
            "[0:v][1:v]concat=n=2:v=1:a=0,format=yuv420p[v]",
        ])
        .args([
            "-map",
            "[v]",
            "-map",
            "2:a",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ])
        .args(["-c:a", "aac"])
        .arg(&out)
        .status()
        .expect("ffmpeg (scripts/install-deps.sh installs it)")
        .success();
    assert!(ok, "ffmpeg");
    out
}

/// A face that comes into view with a cut (grey card → face) is found at the detector's next
/// look and followed on every frame after, as one track: the cut, told a few frames late, does
/// not end the track found on its own frame.
#[test]
fn a_face_that_comes_in_with_a_cut_is_one_track_followed_to_the_end() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = face_enters_clip(tmp.path());
    let (_, summary) = eval_file(&clip);
    let faces = &summary["faces"];
    eprintln!("faces {faces}");
    let n = |k: &str| faces[k].as_u64().unwrap();
    assert_eq!(n("tracks"), 1, "{faces}");
    // 150 frames, the face on the last 90: found within half a second of its first frame.
    assert!(n("mesh_runs") >= 78, "{faces}");
    let share = faces["face_share"].as_f64().unwrap();
    assert!((0.5..=0.62).contains(&share), "{faces}");
    let cuts = &summary["cuts"];
    assert_eq!(
        cuts["hard"].as_u64(),
        Some(1),
        "the grey card → face cut: {cuts}"
    );
}

/// `eval --json` of a file through the whole pipeline: its records and its summary.
fn eval_file(clip: &Path) -> (Vec<Value>, Value) {
    let (records, r) = common::eval_json(clip, &Settings::default());
    r.unwrap();
    let summary = records
        .iter()
        .rev()
        .find(|r| r["type"] == "summary")
        .expect("a summary")
        .clone();
    (records, summary)
}

fn dir_png(name: &str) -> String {
    dir().join(name).display().to_string()
}

/// Through the whole file pipeline: the face is found and followed on every frame, and a mouth
/// that never moves gives no lip offset, whatever the sound does.
#[test]
fn a_face_in_view_is_followed_and_a_still_mouth_commits_no_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let clip = still_face_clip(tmp.path());
    let (records, summary) = eval_file(&clip);
    let faces = &summary["faces"];
    eprintln!("faces {faces}, lips {}", summary["sync"]["lips"]);
    assert_eq!(faces["tracks"], 1, "one face, one track: {faces}");
    assert!(faces["face_share"].as_f64().unwrap() > 0.95, "{faces}");
    assert!(faces["mesh_runs"].as_u64().unwrap() >= 140, "{faces}");
    assert!(faces["detector_runs"].as_u64().unwrap() <= 10, "{faces}");
    let lips = &summary["sync"]["lips"];
    assert!(lips["audio_delay_ms"].is_null(), "{lips}");
    assert_eq!(lips["declined"], "mouth_still", "{lips}");
    assert_ne!(summary["sync"]["source"], "lips");
    // A face that never talks, over a steady tone: no lip fault is blamed on it.
    for kind in ["speech_without_mouth", "mouth_without_speech"] {
        assert_eq!(summary["events"][kind], 0, "{kind}: {}", summary["events"]);
    }
    let window = records
        .iter()
        .rev()
        .find(|r| r["type"] == "window")
        .unwrap();
    // A steady tone is sound but not speech (it does not swing like syllables): the window
    // reads no lip movement during speech, and the face is counted.
    assert_eq!(window["faces"]["count"], 1, "{}", window["faces"]);
    assert!(
        window["faces"]["mouth_in_speech"].is_null(),
        "{}",
        window["faces"]
    );

    // With the face models off, nothing of it.
    let mut off = Settings::default();
    off.analysis.face_side = 0;
    let (records, r) = common::eval_json(&clip, &off);
    r.unwrap();
    let summary = records
        .iter()
        .rev()
        .find(|r| r["type"] == "summary")
        .unwrap();
    assert!(summary["faces"].is_null() && summary["sync"]["lips"].is_null());
}

/// Live, a stream with no face in view gets a face picture for one frame in twelve (the
/// detector's cadence) — scaling one for every frame on GStreamer's streaming thread cost as
/// much as the detector — and a face that comes into view is followed from within a few frames
/// of the detector's look, on every frame after (the evaluator keeps within a frame or two of
/// the ingest live, so little is lost in between).
#[test]
fn live_a_face_picture_is_made_only_for_the_frames_the_face_models_want() {
    use evalverse::Record;
    use evalverse::config::StreamSettings;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    let tmp = tempfile::tempdir().unwrap();
    let clip = face_enters_clip(tmp.path());
    let base = common::free_ports(4);
    let ev = evalverse::output::sinks::evaluator(Settings::default(), common::cpu_model());
    let mut rx = ev.subscribe();
    ev.add_stream(StreamSettings::rtp("face", Some(base), Some(base + 2)))
        .unwrap();
    common::wait_for("the receiver to start", 10.0, || {
        ev.stream("face").unwrap().state != evalverse::StreamState::Starting
    });
    let sender = {
        let clip = clip.display().to_string();
        std::thread::spawn(move || {
            evalverse::sender::send_file(
                &clip,
                &common::loopback(base, 800),
                Arc::new(AtomicBool::new(false)),
            )
        })
    };
    let mut records = vec![];
    let mut pump = |for_s: f64, records: &mut Vec<Arc<Record>>| {
        let until = std::time::Instant::now() + std::time::Duration::from_secs_f64(for_s);
        while std::time::Instant::now() < until {
            match rx.try_recv() {
                Ok(r) => records.push(r),
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    };
    {
        let _stage = common::stage("streaming a face that comes into view", common::stage_s());
        while !sender.is_finished() {
            pump(0.2, &mut records);
        }
    }
    sender.join().unwrap().expect("sender ran");
    pump(1.5, &mut records);
    assert!(ev.remove_stream("face"));
    pump(0.5, &mut records);
    let summary = records
        .iter()
        .find_map(|r| match &**r {
            Record::Summary(s) => Some(s.clone()),
            _ => None,
        })
        .expect("a summary");
    let faces = summary.faces.clone().expect("a face was seen");
    eprintln!("frames {}, faces {faces:?}", summary.frames);
    let frames = summary.frames;
    assert!(frames >= 140, "{frames} frames");
    // The face is on the last 90 frames: followed on most of them (here 85; the margin is
    // for a loaded machine, where more frames are in flight when the face is found).
    assert!(faces.mesh_runs >= 60, "{faces:?}");
    assert!((0.4..=0.7).contains(&faces.face_share), "{faces:?}");
    // The 60 grey frames: about one picture in twelve, plus a few in flight when the face was
    // found; far fewer pictures than frames.
    assert!(faces.pictures <= faces.mesh_runs + 60 / 12 + 8, "{faces:?}");
    assert!(faces.pictures < frames - 40, "{faces:?}");
}
