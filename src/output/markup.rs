//! The markup every page shares: its frame, its style, and the one function that escapes text.

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}\
h1{font-size:20px}h2{font-size:16px;margin-top:28px}table{border-collapse:collapse}\
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}th{cursor:pointer;background:#f4f4f4}\
.fault{fill:#d62728;opacity:.55}.info{fill:#999;opacity:.45}.cut{stroke:#555;stroke-width:1}\
.cut.gradual{stroke-dasharray:3 2}.stop{color:#b00;font-weight:bold}.ok{color:#070}\
svg text{font-size:11px;fill:#444}";

/// Text made safe for HTML content and quoted attribute values: the one escaping function of
/// every page.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// A whole page: `title`, the shared style, `body`, and `script` inline.
pub fn page(title: &str, body: &str, script: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{STYLE}</style></head><body>{body}<script>{script}</script></body></html>\n",
        esc(title)
    )
}
