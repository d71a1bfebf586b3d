//! `serve`'s live page, `GET /streams/{id}`: the run page of one stream (score timeline, cuts and
//! events with their diagnoses, the sync figure, alerts, verdict), drawn by the one renderer
//! ([`super::run_page`]) on the server from the stream's records as they arrive and fetched by
//! the page every second from `/v1/streams/{id}/page`, under the API's own token (given to the
//! page in the URL fragment, `#token=…`, which browsers do not send), so serving the page
//! itself needs no token. The script is inline and pinned by its hash in the
//! Content-Security-Policy: the page can talk only to its own origin, and nothing it is given
//! can run.
use super::markup::{esc, page};
use base64::Engine;
use sha2::{Digest, Sha256};

const SCRIPT: &str = include_str!("live.js");

/// The page for stream `stream` (which need not exist yet: the page says so).
pub fn live_page(stream: &str) -> String {
    let body = format!(
        "<main id=\"live\" data-stream=\"{id}\"><p id=\"status\">Connecting…</p>\
         <div id=\"page\"><h1>evalverse — {id}</h1></div></main>",
        id = esc(stream)
    );
    page(&format!("evalverse — live: {stream}"), &body, SCRIPT)
}

/// The Content-Security-Policy for [`live_page`]: its one inline script (by hash), inline
/// styles, fetches to its own origin, nothing else; no framing.
pub fn content_security_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(SCRIPT));
    format!(
        "default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'; \
         connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_id_is_escaped_and_the_script_hash_matches() {
        let p = live_page("a\"><script>alert(1)</script>");
        assert!(!p.contains("<script>alert(1)"), "{p}");
        assert!(p.contains("data-stream=\"a&quot;&gt;&lt;script&gt;"));
        // The script in the page is exactly the one the policy allows.
        let inline = p
            .split("<script>")
            .nth(1)
            .unwrap()
            .split("</script>")
            .next()
            .unwrap();
        assert_eq!(inline, SCRIPT);
        assert!(content_security_policy().contains("script-src 'sha256-"));
    }
}
