//! The process's logger: env_logger (level from `RUST_LOG`, default `info`) whose every line is scrubbed
//! of credentials before it is written.
//!
//! Pingora's own `trace` and `debug` lines dump request headers, and a client's or provider's key must
//! never reach a log: the values of `authorization`, `proxy-authorization`, `x-api-key`, `api-key` and
//! `x-goog-api-key` (in any case, as `name: value`, `"name": "value"` or `name=value`), and any
//! `Bearer` token, are replaced by `[REDACTED]`. The scrub formats the line once more, only for lines
//! that are enabled, so it costs nothing at the default level on the request path.

use std::io::Write as _;

/// Header names whose values are credentials.
const SECRET_NAMES: [&str; 5] = ["proxy-authorization", "authorization", "x-api-key", "api-key", "x-goog-api-key"];
/// What a secret is replaced with.
const REDACTED: &str = "[REDACTED]";

/// Installs the logger; call once, first thing in `main`.
pub fn init() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            let line = redact(&record.args().to_string());
            writeln!(buf, "[{} {:<5} {}] {line}", buf.timestamp(), record.level(), record.target())
        })
        .init();
}

/// `text` with the value after every credential header name, and every bearer token, replaced.
pub fn redact(text: &str) -> String {
    let lower = text.to_ascii_lowercase();
    // (start, end) byte ranges of secret values, from every pattern; merged below.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for name in SECRET_NAMES {
        let mut from = 0;
        while let Some(at) = lower.get(from..).and_then(|rest| rest.find(name)) {
            let start = from + at;
            from = start + name.len();
            // `x-api-key` also contains `api-key`: a name must not continue a longer word.
            // (`\r\n` escaped in a Debug dump of raw bytes ends in a letter but is a line break.)
            let before = lower.as_bytes().get(start.wrapping_sub(1)).copied();
            let escaped_break = start >= 2 && matches!(lower.get(start - 2..start), Some("\\n" | "\\r"));
            let continues_word = before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if start > 0 && continues_word && !escaped_break {
                continue;
            }
            if let Some(span) = value_after(text.as_bytes(), from) {
                spans.push(span);
            }
        }
    }
    let mut from = 0;
    while let Some(at) = lower.get(from..).and_then(|rest| rest.find("bearer ")) {
        let start = from + at + "bearer ".len();
        let end = value_end(text.as_bytes(), start);
        if end > start {
            spans.push((start, end));
        }
        from = start;
    }
    if spans.is_empty() {
        return text.to_owned();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (start, end) in spans {
        if start < copied {
            copied = copied.max(end);
            continue;
        }
        out.push_str(text.get(copied..start).unwrap_or_default());
        out.push_str(REDACTED);
        copied = end;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    out
}

/// After a header name at `i`: an optional closing quote, spaces, `:` or `=`, spaces and an optional
/// opening quote; the value's byte range, if that is what follows.
fn value_after(bytes: &[u8], mut i: usize) -> Option<(usize, usize)> {
    if bytes.get(i) == Some(&b'"') {
        i += 1;
    }
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    if !matches!(bytes.get(i), Some(b':' | b'=')) {
        return None;
    }
    i += 1;
    while bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    if bytes.get(i) == Some(&b'"') {
        i += 1;
    }
    let end = value_end(bytes, i);
    (end > i).then_some((i, end))
}

/// Where a value starting at `i` ends: a quote, a comma, a brace, a line end or an escaped one (`\r` in
/// a Debug dump), or the end of the text. Always on a char boundary (every stop byte is ASCII).
fn value_end(bytes: &[u8], i: usize) -> usize {
    let rest = bytes.get(i..).unwrap_or_default();
    i + rest.iter().position(|b| matches!(b, b'"' | b',' | b'}' | b'\r' | b'\n' | b'\\')).unwrap_or(rest.len())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn credential_headers_are_redacted_in_every_shape_pingora_and_we_print() {
        let cases = [
            (
                r#"{"authorization": "Bearer sk-live-123", "host": "a"}"#,
                r#"{"authorization": "[REDACTED]", "host": "a"}"#,
            ),
            (
                "Authorization: Bearer sk-1\r\nx-api-key: ant-2\r\n",
                "Authorization: [REDACTED]\r\nx-api-key: [REDACTED]\r\n",
            ),
            (r#"b"POST / HTTP/1.1\r\nApi-Key: az-3\r\n""#, r#"b"POST / HTTP/1.1\r\nApi-Key: [REDACTED]\r\n""#),
            ("x-goog-api-key=AIza4 next", "x-goog-api-key=[REDACTED]"),
            ("sent bearer sk-5 to them", "sent bearer [REDACTED]"),
            ("nothing secret here: api_key_alias", "nothing secret here: api_key_alias"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn redaction_keeps_utf8_and_never_panics_on_odd_input() {
        for input in ["authorization", "authorization:", "authorization: \"", "é authorization: é\"x", "bearer ", ""]
        {
            let _ = redact(input);
        }
        assert_eq!(redact("é authorization: é\"x"), "é authorization: [REDACTED]\"x");
        assert_eq!(redact("authorization: é"), "authorization: [REDACTED]");
    }
}
