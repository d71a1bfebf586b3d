//! Thumbnails for `evalverse report`: one pass over a file's picture at a small size, keeping
//! the first frame at or after each requested time, as PNG.
use super::pipeline::{fill, strip_comments};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use std::collections::BTreeMap;

pub const THUMBNAILS: &str = include_str!("../../pipelines/thumbnails.pipeline");

/// PNG thumbnails `width` pixels wide of the frames at `times` (seconds), keyed by the requested
/// time in milliseconds. Stops decoding after the last one.
pub fn grab(input: &str, times: &[f64], width: u32) -> Result<BTreeMap<i64, Vec<u8>>, String> {
    let mut wanted: Vec<i64> = times.iter().map(|t| (t * 1000.0).round() as i64).collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut out = BTreeMap::new();
    if wanted.is_empty() {
        return Ok(out);
    }
    super::init().map_err(|e| e.to_string())?;
    let uri = super::to_uri(input).map_err(|e| e.to_string())?;
    let v = BTreeMap::from([
        ("uri", uri.replace('"', "%22")),
        ("width", width.max(16).to_string()),
    ]);
    let desc = fill(&strip_comments(THUMBNAILS), &v)?;
    let pipeline = super::launch("thumbnails", &desc).map_err(|e| e.to_string())?;
    let sink = pipeline
        .by_name("video")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .ok_or("no video sink")?;
    sink.set_sync(false);
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("{input}: {e}"))?;
    let mut next = 0;
    while next < wanted.len() {
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_seconds(30)) else {
            break;
        };
        // The records' times are running times, as the evaluator's ingest reads them.
        let Some(t) = super::sink::running_time_s(&sample, sample.buffer().and_then(|b| b.pts()))
        else {
            continue;
        };
        let ms = (t * 1000.0).round() as i64;
        // The records' times are frame timestamps (rounded to µs): the frame at or after it.
        if ms + 2 < wanted[next] {
            continue;
        }
        let png = to_png(&sample)?;
        while next < wanted.len() && wanted[next] <= ms + 2 {
            out.insert(wanted[next], png.clone());
            next += 1;
        }
    }
    let _ = pipeline.set_state(gst::State::Null);
    Ok(out)
}

fn to_png(sample: &gst::Sample) -> Result<Vec<u8>, String> {
    let caps = sample.caps().ok_or("no caps")?;
    let info = gstreamer_video::VideoInfo::from_caps(caps).map_err(|e| e.to_string())?;
    let buf = sample.buffer().ok_or("no buffer")?;
    let map = buf.map_readable().map_err(|e| e.to_string())?;
    let (w, h, stride) = (
        info.width() as usize,
        info.height() as usize,
        info.stride()[0] as usize,
    );
    let mut rgb = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        let start = row * stride;
        rgb.extend_from_slice(map.get(start..start + w * 3).ok_or("short frame")?);
    }
    let mut png = vec![];
    let mut enc = png::Encoder::new(&mut png, w as u32, h as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut wr = enc.write_header().map_err(|e| e.to_string())?;
    wr.write_image_data(&rgb).map_err(|e| e.to_string())?;
    wr.finish().map_err(|e| e.to_string())?;
    Ok(png)
}
