//! How many bytes text takes once JSON-escaped (a string inside a JSON document) and
//! twice (that document inside another, as a delivery's body sits inside its queue message
//! and its request-log entry), without building the strings.

/// Bytes `b` takes once JSON-escaped (serde_json escapes quotes, backslashes and control
/// characters, nothing else; bytes of multi-byte characters are all ≥ 0x80 and kept).
pub fn escaped_byte_len(b: u8) -> usize {
    match b {
        b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
        0..=0x1f => 6,
        _ => 1,
    }
}

/// Bytes `s` takes once JSON-escaped (what `EscapedCounter` adds up; the tests check both).
pub fn escaped_len(s: &str) -> usize {
    s.bytes().map(escaped_byte_len).sum()
}

/// Bytes `s` takes escaped twice: a string inside the body, the body inside the queue message.
pub fn twice_escaped_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match escaped_byte_len(b) {
            2 if matches!(b, b'"' | b'\\') => 4, // \" and \\ become \\\" and \\\\
            2 => 3,                              // \n becomes \\n
            6 => 7,                              // \u00XX becomes \\u00XX
            n => n,
        })
        .sum()
}

/// Counts what serde_json writes into it, as it would take once JSON-escaped.
struct EscapedCounter(usize);

impl std::io::Write for EscapedCounter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.iter().map(|&b| escaped_byte_len(b)).sum::<usize>();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What `value` takes serialized, then JSON-escaped, without building the string.
pub fn escaped_json_len(value: &impl serde::Serialize) -> usize {
    let mut counter = EscapedCounter(0);
    serde_json::to_writer(&mut counter, value).expect("serializes");
    counter.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_lengths_match_serde_json() {
        for s in [
            "plain",
            "",
            "q\" b\\ nl\n cr\r t\t bs\u{8} ff\u{c} bell\u{7} del\u{7f} é 😀 <&>",
        ] {
            let once = serde_json::to_string(s).unwrap();
            assert_eq!(escaped_len(s), once.len() - 2, "{s:?}");
            let twice = serde_json::to_string(&once[1..once.len() - 1]).unwrap();
            assert_eq!(twice_escaped_len(s), twice.len() - 2, "{s:?}");
        }
    }

    #[test]
    fn json_lengths_count_what_serde_json_writes_escaped() {
        let value = serde_json::json!({"text": "a\"b\u{1}"});
        let once = serde_json::to_string(&value).unwrap();
        assert_eq!(escaped_json_len(&value), escaped_len(&once));
    }
}
