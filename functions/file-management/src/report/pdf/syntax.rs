//! How values are spelled inside objects and content streams.

use std::io::Write;

/// Writes `value` with at most two decimals: finer than anything the layout or the font metrics
/// need, and it keeps the streams short.
pub(super) fn number(out: &mut Vec<u8>, value: f32) {
    let hundredths = (value * 100.0).round() as i64;
    let (sign, magnitude) = if hundredths < 0 {
        ("-", -hundredths)
    } else {
        ("", hundredths)
    };
    let (whole, fraction) = (magnitude / 100, magnitude % 100);
    let _ = if fraction == 0 {
        write!(out, "{sign}{whole}")
    } else if fraction % 10 == 0 {
        write!(out, "{sign}{whole}.{}", fraction / 10)
    } else {
        write!(out, "{sign}{whole}.{fraction:02}")
    };
}

/// Appends `bytes` inside a literal string `( … )`: the delimiters and the backslash are escaped,
/// and so are line ends, which readers would otherwise normalise.
pub(super) fn literal_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    for &byte in bytes {
        match byte {
            b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', byte]),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{literal_bytes, number};

    fn shown(value: f32) -> String {
        let mut out = Vec::new();
        number(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn numbers_have_at_most_two_decimals_and_no_trailing_zeros() {
        assert_eq!(shown(841.89), "841.89");
        assert_eq!(shown(36.0), "36");
        assert_eq!(shown(0.4), "0.4");
        assert_eq!(shown(-2.05), "-2.05");
        assert_eq!(shown(-0.001), "0");
    }

    #[test]
    fn string_delimiters_and_line_ends_are_escaped() {
        let mut out = Vec::new();
        literal_bytes(
            &mut out,
            &[0, b'(', 0, b')', 0, b'\\', 0, b'\r', 0, b'\n', 0, b'A'],
        );
        assert_eq!(out, b"\0\\(\0\\)\0\\\\\0\\r\0\\n\0A");
    }
}
