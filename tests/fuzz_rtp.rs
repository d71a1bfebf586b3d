//! Property tests (fuzzing on stable Rust, with proptest) of the parsers of untrusted network
//! bytes we own: the RTP header handling and statistics of every datagram (`RtpStats`) and the
//! RTCP sender-report check that decides sender-clock timing. For arbitrary bytes, and for
//! valid headers with lying fields (CSRC counts, padding, extensions, random SSRCs, truncation):
//! never a panic, and the statistics stay consistent.
//!
//! 10 000 cases per property by default (about a second); the long run is
//! `PROPTEST_CASES=1000000 cargo test --release --test fuzz_rtp`.
use evalverse::ingest::rtp_stats::{PacketVerdict, RtpStats, rtcp_sender_ssrc};
use proptest::prelude::*;
use std::time::{Duration, Instant};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000),
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions"),
        )),
        ..ProptestConfig::default()
    }
}

/// An RTP datagram whose header fields are chosen freely — including lies: a CSRC count or an
/// extension length beyond the datagram, a padding flag whose count exceeds the payload, a
/// truncation anywhere.
#[derive(Debug, Clone)]
struct Lying {
    version: u8,
    padding: bool,
    extension: bool,
    csrc_count: u8,
    marker: bool,
    payload_type: u8,
    seq: u16,
    timestamp: u32,
    ssrc: u32,
    body: Vec<u8>,
    truncate: Option<usize>,
}

impl Lying {
    fn bytes(&self) -> Vec<u8> {
        let mut v = vec![
            (self.version & 3) << 6
                | (self.padding as u8) << 5
                | (self.extension as u8) << 4
                | (self.csrc_count & 15),
            (self.marker as u8) << 7 | (self.payload_type & 127),
        ];
        v.extend(self.seq.to_be_bytes());
        v.extend(self.timestamp.to_be_bytes());
        v.extend(self.ssrc.to_be_bytes());
        v.extend(&self.body);
        if let Some(n) = self.truncate {
            v.truncate(n);
        }
        v
    }
}

fn lying() -> impl Strategy<Value = Lying> {
    (
        prop_oneof![Just(2u8), 0u8..4],
        any::<bool>(),
        any::<bool>(),
        0u8..16,
        any::<bool>(),
        prop_oneof![Just(96u8), 0u8..128],
        any::<u16>(),
        any::<u32>(),
        prop_oneof![Just(7u32), any::<u32>()],
        proptest::collection::vec(any::<u8>(), 0..200),
        proptest::option::of(0usize..220),
    )
        .prop_map(
            |(
                version,
                padding,
                extension,
                csrc_count,
                marker,
                payload_type,
                seq,
                timestamp,
                ssrc,
                body,
                truncate,
            )| Lying {
                version,
                padding,
                extension,
                csrc_count,
                marker,
                payload_type,
                seq,
                timestamp,
                ssrc,
                body,
                truncate,
            },
        )
}

fn check(stats: &RtpStats, calls: u64) {
    assert_eq!(stats.received + stats.malformed, calls);
    assert!(stats.lost() <= stats.expected());
    assert!(stats.jitter_s().is_finite() && stats.jitter_s() >= 0.0);
    assert!(stats.reordered <= stats.received);
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_datagrams_never_panic(datagrams in proptest::collection::vec(
        proptest::collection::vec(any::<u8>(), 0..1500), 1..20)) {
        let mut s = RtpStats::new(90_000, 96);
        let t0 = Instant::now();
        for (i, d) in datagrams.iter().enumerate() {
            s.on_datagram(d, t0 + Duration::from_millis(i as u64));
            let _ = rtcp_sender_ssrc(d);
        }
        check(&s, datagrams.len() as u64);
    }

    #[test]
    fn lying_headers_never_panic_and_keep_the_statistics_consistent(
        packets in proptest::collection::vec(lying(), 1..40)) {
        let mut s = RtpStats::new(90_000, 96);
        let t0 = Instant::now();
        for (i, p) in packets.iter().enumerate() {
            let b = p.bytes();
            let verdict = s.on_datagram(&b, t0 + Duration::from_millis(3 * i as u64));
            // Only version-2 datagrams of our payload type with a complete fixed header count.
            if verdict == PacketVerdict::Valid {
                prop_assert!(b.len() >= 12 && b[0] >> 6 == 2 && b[1] & 127 == 96);
            }
        }
        check(&s, packets.len() as u64);
    }

    #[test]
    fn only_well_formed_sender_reports_name_a_sender(
        version in 0u8..4, pt in prop_oneof![Just(200u8), any::<u8>()],
        words in any::<u16>(), ssrc in any::<u32>(),
        rest in proptest::collection::vec(any::<u8>(), 0..120)) {
        let mut d = vec![version << 6, pt];
        d.extend(words.to_be_bytes());
        d.extend(ssrc.to_be_bytes());
        d.extend(&rest);
        match rtcp_sender_ssrc(&d) {
            Some(s) => {
                prop_assert_eq!(s, ssrc);
                prop_assert!(version == 2 && pt == 200);
                prop_assert!((words as usize + 1) * 4 <= d.len() && d.len() >= 28);
            }
            None => prop_assert!(
                version != 2 || pt != 200 || d.len() < 28
                    || (words as usize + 1) * 4 > d.len() || (words as usize + 1) * 4 < 28
            ),
        }
    }
}
