//! Path bytes as text that round-trips: the one escape form used wherever a path is written in
//! a line, a flag or an annotation (the learn line, the denial lines, `suggest`'s output, policy
//! paths).
//!
//! A Linux file name is any bytes but `/` and NUL, so a lossy decoding (U+FFFD for every byte
//! that is not UTF-8) names a different file. Here, valid UTF-8 characters that are printable
//! stay as they are; every other byte (invalid UTF-8, control characters such as a newline)
//! and the backslash itself become `\xHH` (two hex digits). So do the characters that would
//! change what a reader sees or what a list reads: line and paragraph separators (U+2028,
//! U+2029, which end a YAML comment although a terminal shows nothing), bidirectional and
//! zero-width format characters, the comma (annotations list paths separated by commas) and a
//! trailing space (annotation lists trim their items). [`decode`] reverses it exactly, so
//! `decode(encode(b)) == b` for all bytes `b`, and a path without a backslash or an odd byte
//! reads the same in both forms.

use std::ffi::OsString;
use std::fmt::Write as _;
use std::os::unix::ffi::OsStringExt;

/// Why escaped text could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad escape at byte {at}: a backslash must start \\xHH (two hex digits; write a backslash itself as \\x5c)"
)]
pub struct DecodeError {
    /// Where the bad escape starts, in bytes from the beginning of the text.
    pub at: usize,
}

/// The text form of `bytes` (see the module documentation).
pub fn encode(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c == '\\' || c == ',' || c.is_control() || invisible(c) {
                let mut utf8 = [0; 4];
                for byte in c.encode_utf8(&mut utf8).bytes() {
                    escape(&mut text, byte);
                }
            } else {
                text.push(c);
            }
        }
        for &byte in chunk.invalid() {
            escape(&mut text, byte);
        }
    }
    if text.ends_with(' ') {
        text.pop();
        escape(&mut text, b' ');
    }
    text
}

/// Characters that break a line, reorder or hide text without showing themselves (Unicode
/// line and paragraph separators, and the format characters for direction and zero width).
fn invisible(c: char) -> bool {
    matches!(
        c,
        '\u{2028}'
            | '\u{2029}'
            | '\u{061c}'
            | '\u{200b}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2060}'..='\u{2069}'
            | '\u{feff}'
    )
}

fn escape(text: &mut String, byte: u8) {
    // Writing to a String cannot fail.
    let _ = write!(text, "\\x{byte:02x}");
}

/// The bytes `text` stands for: every `\xHH` (either case) becomes that byte; any other
/// backslash is an error, so a mistyped escape is never taken for a different path.
pub fn decode(text: &str) -> Result<Vec<u8>, DecodeError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        if bytes[at] != b'\\' {
            out.push(bytes[at]);
            at += 1;
            continue;
        }
        let hex = |i: usize| bytes.get(at + i).and_then(|&b| (b as char).to_digit(16));
        match (bytes.get(at + 1), hex(2), hex(3)) {
            (Some(b'x'), Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                at += 4;
            }
            _ => return Err(DecodeError { at }),
        }
    }
    Ok(out)
}

/// [`decode`], as an [`OsString`] (what opening the path takes).
pub fn decode_os(text: &str) -> Result<OsString, DecodeError> {
    decode(text).map(OsString::from_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_paths_read_the_same() {
        for plain in ["/etc/ssl/certs", "/srv/a b", "/data/é/日本", "/x;y=z\"q'"] {
            assert_eq!(encode(plain.as_bytes()), plain);
            assert_eq!(decode(plain).as_deref(), Ok(plain.as_bytes()));
        }
    }

    #[test]
    fn odd_bytes_and_the_backslash_are_escaped() {
        assert_eq!(encode(b"/srv/\xff"), "/srv/\\xff");
        assert_eq!(encode(b"/a\\b"), "/a\\x5cb");
        assert_eq!(encode(b"/a\nb\x7f"), "/a\\x0ab\\x7f");
        // U+0085 (a C1 control) is valid UTF-8 but not printable: both its bytes are escaped.
        assert_eq!(encode("/\u{85}".as_bytes()), "/\\xc2\\x85");
        // A truncated UTF-8 sequence is invalid: its bytes are escaped, what follows is not.
        assert_eq!(encode(b"/\xe6\x97/\xc3\xa9"), "/\\xe6\\x97/\u{e9}");
        assert_eq!(decode("/\\xFF\\x5C").as_deref(), Ok(&b"/\xff\\"[..]));
    }

    /// What would change what a reader sees, or what a comma-separated list reads, is escaped:
    /// a line separator (it ends a YAML comment, invisibly), bidirectional and zero-width
    /// characters, the comma, a trailing space; a space inside a name is not.
    #[test]
    fn separators_and_invisible_characters_are_escaped() {
        assert_eq!(encode("/a\u{2028}b".as_bytes()), "/a\\xe2\\x80\\xa8b");
        assert_eq!(encode("/a\u{202e}b".as_bytes()), "/a\\xe2\\x80\\xaeb");
        assert_eq!(encode("/a\u{200b}".as_bytes()), "/a\\xe2\\x80\\x8b");
        assert_eq!(encode(b"/tmp/x,/var/run"), "/tmp/x\\x2c/var/run");
        assert_eq!(encode(b"/srv/a b "), "/srv/a b\\x20");
        for odd in ["/a\u{2028}b", "/tmp/x,/y", "/srv/a b ", "/\u{feff}"] {
            assert_eq!(
                decode(&encode(odd.as_bytes())).as_deref(),
                Ok(odd.as_bytes())
            );
        }
    }

    #[test]
    fn round_trips_over_arbitrary_bytes() {
        // Every byte value alone and after every other, plus a pseudo-random sample of longer
        // strings (a fixed linear congruential sequence, so a failure reproduces).
        let mut cases: Vec<Vec<u8>> = (0..=255u8).map(|b| vec![b]).collect();
        for a in 0..=255u8 {
            for b in [0u8, b'\\', b'x', 0x7f, 0x80, 0xc3, 0xe6, 0xff] {
                cases.push(vec![a, b]);
                cases.push(vec![b'\\', a, b]);
            }
        }
        let mut state: u32 = 0x1234_5678;
        for len in 0..400 {
            let bytes = (0..len % 37)
                .map(|_| {
                    state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                    (state >> 16) as u8
                })
                .collect();
            cases.push(bytes);
        }
        for bytes in cases {
            let text = encode(&bytes);
            assert_eq!(decode(&text).as_deref(), Ok(&bytes[..]), "{text}");
            assert_eq!(decode_os(&text).map(OsString::into_vec), Ok(bytes.clone()));
            // The text is one line with no control characters: it can go into a log line.
            assert!(!text.chars().any(char::is_control), "{text:?}");
        }
    }

    #[test]
    fn a_backslash_that_is_not_an_escape_is_an_error() {
        for (bad, at) in [
            ("/a\\", 2),
            ("/a\\b", 2),
            ("/\\x4", 1),
            ("/\\xg0", 1),
            ("\\\\", 0),
        ] {
            assert_eq!(decode(bad), Err(DecodeError { at }), "{bad}");
        }
        assert!(DecodeError { at: 3 }.to_string().contains("\\x5c"));
    }
}
