//! Small JSON writing helpers for the hand-written OpenAI output: string escaping, integers, minifying raw
//! JSON, borrowing a string out of a raw value, and base64 (for `encoding_format: "base64"` embeddings).
//!
//! The OpenAI answers and chunks are written straight into the caller's buffer instead of being built as
//! `serde_json::Value`s: no intermediate tree, no per-chunk allocation, and member order exactly as OpenAI
//! writes it (serde_json without `preserve_order` would sort keys).

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Visitor};
use serde_json::value::RawValue;

/// Writes `s` as a JSON string literal (escaped as serde_json escapes it).
pub(crate) fn write_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    write_str_body(out, s);
    out.push(b'"');
}

/// Writes `s` escaped for the inside of a JSON string literal, without the quotes (pieces of one string
/// can so be written one after the other).
pub(crate) fn write_str_body(out: &mut Vec<u8>, s: &str) {
    crate::openai::write_json_str_body(out, s);
}

/// Writes an unsigned integer in decimal.
pub(crate) fn write_u64(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        // `n % 10` is below 10, so the cast cannot truncate.
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// Appends `raw` (valid JSON) without the whitespace between tokens; strings are copied untouched.
pub(crate) fn minify_into(out: &mut Vec<u8>, raw: &str) {
    out.reserve(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw.as_bytes() {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b' ' | b'\n' | b'\r' | b'\t' => {}
            b'"' => {
                in_string = true;
                out.push(b);
            }
            _ => out.push(b),
        }
    }
}

/// Writes raw JSON text (valid JSON) as a JSON string literal holding its minified text: one pass that
/// drops the whitespace between tokens and escapes quotes and backslashes (what `arguments` needs).
///
/// Runs of bytes that need nothing (tokens outside strings, text inside them) are copied whole rather than
/// pushed byte by byte: the arguments of a tool call are mostly such runs.
pub(crate) fn write_minified_as_str(out: &mut Vec<u8>, raw: &str) {
    let bytes = raw.as_bytes();
    out.reserve(bytes.len() + bytes.len() / 8 + 2);
    out.push(b'"');
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b' ' | b'\n' | b'\r' | b'\t' => i += 1,
            b'"' => {
                out.extend_from_slice(b"\\\"");
                i += 1;
                // Inside a string of valid JSON: no raw control characters, only `"` and `\` to escape.
                loop {
                    let rest = bytes.get(i..).unwrap_or_default();
                    let run = rest.iter().position(|&c| c == b'"' || c == b'\\').unwrap_or(rest.len());
                    out.extend_from_slice(&rest[..run]);
                    i += run;
                    match bytes.get(i) {
                        Some(b'"') => {
                            out.extend_from_slice(b"\\\"");
                            i += 1;
                            break;
                        }
                        Some(_) => {
                            // A backslash and the byte it escapes (itself escaped if it is `"` or `\`).
                            out.extend_from_slice(b"\\\\");
                            if let Some(&escaped) = bytes.get(i + 1) {
                                if escaped == b'"' || escaped == b'\\' {
                                    out.push(b'\\');
                                }
                                out.push(escaped);
                            }
                            i += 2;
                        }
                        None => break,
                    }
                }
            }
            _ => {
                let rest = bytes.get(i..).unwrap_or_default();
                let run =
                    rest.iter().position(|&c| matches!(c, b' ' | b'\n' | b'\r' | b'\t' | b'"')).unwrap_or(rest.len());
                out.extend_from_slice(&rest[..run]);
                i += run;
            }
        }
    }
    out.push(b'"');
}

/// The JSON string held by `raw`, borrowed when it has no escapes; `None` when `raw` is not a string.
pub(crate) fn str_of(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    // The raw value is valid JSON: a string without a backslash is its own text.
    if !inner.contains('\\') {
        return Some(Cow::Borrowed(inner));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    de.deserialize_str(CowStr).ok()
}

/// Builds a `Cow<str>` that borrows from the input when it can (serde's own impl always copies).
struct CowStr;

impl<'de> Visitor<'de> for CowStr {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Whether a raw value is JSON `null` (OpenAI clients send `"temperature": null` for "not set").
pub(crate) fn is_null(raw: &RawValue) -> bool {
    raw.get() == "null"
}

/// Whether a raw value is a JSON number.
pub(crate) fn is_number(raw: &RawValue) -> bool {
    matches!(raw.get().as_bytes().first(), Some(b'-' | b'0'..=b'9'))
}

/// Appends the standard base64 (RFC 4648, padded) encoding of `bytes`.
pub(crate) fn base64_into(out: &mut Vec<u8>, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    out.reserve(bytes.len().div_ceil(3) * 4);
    let mut chunks = bytes.chunks_exact(3);
    for c in &mut chunks {
        let n = (u32::from(c[0]) << 16) | (u32::from(c[1]) << 8) | u32::from(c[2]);
        for shift in [18, 12, 6, 0] {
            out.push(ALPHABET[((n >> shift) & 63) as usize]);
        }
    }
    match *chunks.remainder() {
        [a] => {
            let n = u32::from(a) << 16;
            out.extend_from_slice(&[ALPHABET[((n >> 18) & 63) as usize], ALPHABET[((n >> 12) & 63) as usize]]);
            out.extend_from_slice(b"==");
        }
        [a, b] => {
            let n = (u32::from(a) << 16) | (u32::from(b) << 8);
            for shift in [18, 12, 6] {
                out.push(ALPHABET[((n >> shift) & 63) as usize]);
            }
            out.push(b'=');
        }
        _ => {}
    }
}
