//! Launch descriptions: the files in `pipelines/` (compiled in), filled in for one stream.
use crate::config::{AnalysisSettings, AudioCodec, StreamSettings, VideoCodec};
use std::collections::BTreeMap;

pub const RTPBIN: &str = include_str!("../../pipelines/rtpbin.pipeline");
pub const RTP_H264: &str = include_str!("../../pipelines/rtp-h264.pipeline");
pub const RTP_RAW: &str = include_str!("../../pipelines/rtp-raw.pipeline");
pub const RTP_OPUS: &str = include_str!("../../pipelines/rtp-opus.pipeline");
pub const RTP_L16: &str = include_str!("../../pipelines/rtp-l16.pipeline");
pub const FILE: &str = include_str!("../../pipelines/file.pipeline");

/// Session numbers inside the shared rtpbin.
pub const VIDEO_SESSION: u32 = 0;
pub const AUDIO_SESSION: u32 = 1;

/// Drop `#` comment lines and join the rest into one launch line.
pub fn strip_comments(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Replace every `{key}` with its value. Unknown placeholders are an error, so a typo in a user's
/// pipeline file is reported instead of reaching GStreamer's parser.
pub fn fill(text: &str, values: &BTreeMap<&str, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let key = &after[..close];
        if key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !key.is_empty() {
            match values.get(key) {
                Some(v) => out.push_str(v),
                None => return Err(format!("unknown placeholder {{{key}}}")),
            }
        } else {
            out.push('{');
            out.push_str(key);
            out.push('}');
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// A built-in description for `analysis`: comments dropped, and the `sound` branch (one line
/// ending in `appsink name=sound`) too when `analysis.sound` is off, the `detail` branch when
/// `analysis.detail_width` is 0.
fn builtin(text: &str, analysis: &AnalysisSettings) -> String {
    let kept: Vec<&str> = text
        .lines()
        .filter(|l| analysis.sound || !l.contains("appsink name=sound"))
        .filter(|l| analysis.detail_width > 0 || !l.contains("appsink name=detail"))
        .collect();
    strip_comments(&kept.join("\n"))
}

fn common(analysis: &AnalysisSettings) -> BTreeMap<&'static str, String> {
    let mut v = BTreeMap::new();
    v.insert("width", analysis.width.to_string());
    v.insert("audio_rate", analysis.audio_rate.to_string());
    v.insert("detail_width", analysis.detail_width.to_string());
    v.insert("detail_fps", analysis.detail_fps.to_string());
    v.insert("max_side", crate::config::MAX_SOURCE_SIDE.to_string());
    v
}

/// The description for a file or URI input.
pub fn file_description(uri: &str, analysis: &AnalysisSettings) -> Result<String, String> {
    let mut v = common(analysis);
    // Quotes would end the property value in the launch syntax.
    v.insert("uri", uri.replace('"', "%22"));
    fill(&builtin(FILE, analysis), &v)
}

/// The description for an RTP stream: the shared rtpbin plus one branch per configured medium.
pub fn rtp_description(s: &StreamSettings, analysis: &AnalysisSettings) -> Result<String, String> {
    let mut parts = vec![];
    let mut base = common(analysis);
    base.insert("latency", s.latency_ms.to_string());
    base.insert("address", s.address.clone());
    parts.push(fill(&strip_comments(RTPBIN), &base)?);
    if let Some(vcfg) = &s.video {
        let mut v = base.clone();
        v.insert("port", vcfg.port.to_string());
        v.insert("rtcp_port", (vcfg.port + 1).to_string());
        v.insert("payload", vcfg.payload.to_string());
        v.insert("session", VIDEO_SESSION.to_string());
        v.insert("src_width", vcfg.width.unwrap_or(0).to_string());
        v.insert("src_height", vcfg.height.unwrap_or(0).to_string());
        let text = match vcfg.codec {
            VideoCodec::H264 => RTP_H264,
            VideoCodec::Raw => RTP_RAW,
        };
        parts.push(fill(&builtin(text, analysis), &v)?);
    }
    if let Some(acfg) = &s.audio {
        let mut v = base.clone();
        v.insert("port", acfg.port.to_string());
        v.insert("rtcp_port", (acfg.port + 1).to_string());
        v.insert("payload", acfg.payload.to_string());
        v.insert("session", AUDIO_SESSION.to_string());
        v.insert("clock_rate", acfg.clock_rate.to_string());
        v.insert("channels", acfg.channels.to_string());
        let text = match acfg.codec {
            AudioCodec::Opus => RTP_OPUS,
            AudioCodec::L16 => RTP_L16,
        };
        parts.push(fill(&builtin(text, analysis), &v)?);
    }
    Ok(parts.join(" "))
}

/// A user's own pipeline file, filled with every placeholder the built-in ones know.
pub fn custom_description(
    text: &str,
    s: &StreamSettings,
    analysis: &AnalysisSettings,
) -> Result<String, String> {
    let mut v = common(analysis);
    v.insert("latency", s.latency_ms.to_string());
    v.insert("address", s.address.clone());
    // A media file the API admitted was opened then: the pipeline reads that very file.
    if let Some(uri) = s.opened.media_uri().or_else(|| s.uri.clone()) {
        v.insert("uri", uri.replace('"', "%22"));
    }
    // Both branches live in one description: each placeholder of a branch template gets its
    // medium as a prefix ({port} → {video_port}).
    if let Some(vc) = &s.video {
        v.insert("video_port", vc.port.to_string());
        v.insert("video_rtcp_port", (vc.port + 1).to_string());
        v.insert("video_payload", vc.payload.to_string());
        v.insert("video_session", VIDEO_SESSION.to_string());
        v.insert("video_src_width", vc.width.unwrap_or(0).to_string());
        v.insert("video_src_height", vc.height.unwrap_or(0).to_string());
    }
    if let Some(ac) = &s.audio {
        v.insert("audio_port", ac.port.to_string());
        v.insert("audio_rtcp_port", (ac.port + 1).to_string());
        v.insert("audio_payload", ac.payload.to_string());
        v.insert("audio_session", AUDIO_SESSION.to_string());
        v.insert("audio_clock_rate", ac.clock_rate.to_string());
        v.insert("audio_channels", ac.channels.to_string());
    }
    fill(&strip_comments(text), &v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StreamSettings;

    #[test]
    fn fills_placeholders_and_refuses_unknown_ones() {
        let mut v = BTreeMap::new();
        v.insert("port", "5004".to_string());
        assert_eq!(
            fill("udpsrc port={port} caps=\"a\"", &v).unwrap(),
            "udpsrc port=5004 caps=\"a\""
        );
        assert!(fill("udpsrc port={prot}", &v).unwrap_err().contains("prot"));
        // Braces that are not placeholders pass through.
        assert_eq!(fill("a { b } {}", &v).unwrap(), "a { b } {}");
    }

    #[test]
    fn rtp_description_has_both_branches_and_named_appsinks() {
        let s = StreamSettings::rtp("x", Some(6000), Some(6002));
        let d = rtp_description(&s, &AnalysisSettings::default()).unwrap();
        assert!(d.contains("port=6000") && d.contains("port=6001") && d.contains("port=6002"));
        assert!(d.contains("appsink name=video") && d.contains("appsink name=audio"));
        assert!(!d.contains('#') && !d.contains('{'));
        let only_audio = StreamSettings::rtp("x", None, Some(6002));
        let d = rtp_description(&only_audio, &AnalysisSettings::default()).unwrap();
        assert!(!d.contains("appsink name=video"));
    }
}
