//! A rejected input: which field, and what is wrong with it. serde's errors are turned
//! into one here, for event bodies and API bodies alike.

/// A rejected event or body: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidEvent {
    /// Path of the offending field, e.g. `events[3].message.text`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl InvalidEvent {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Names the field a deserialization error is about. `at` prefixes the path (`events[2].`);
/// `root` names the value itself. serde reports a missing field at its parent, so the
/// missing field itself is named.
pub fn from_path_error(
    err: serde_path_to_error::Error<serde_json::Error>,
    at: &str,
    root: &str,
) -> InvalidEvent {
    let path = err.path().to_string();
    let field = if path == "." {
        root.to_string()
    } else {
        format!("{at}{path}")
    };
    let message = err.into_inner().to_string();
    match message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
    {
        Some(missing) => {
            let parent = if path == "." {
                at.trim_end_matches('.')
            } else {
                &field
            };
            let sep = if parent.is_empty() { "" } else { "." };
            InvalidEvent::new(format!("{parent}{sep}{missing}"), "is missing")
        }
        None => InvalidEvent::new(field, message),
    }
}

/// At most `max` characters of a value that goes back into an error message, so a huge
/// value is not echoed whole.
pub fn quoted(value: &str, max: usize) -> String {
    match value.char_indices().nth(max) {
        Some((cut, _)) => format!("{:?}…", &value[..cut]),
        None => format!("{value:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    struct Outer {
        #[allow(dead_code)]
        inner: Inner,
    }

    #[derive(Debug, Deserialize)]
    struct Inner {
        #[allow(dead_code)]
        name: String,
    }

    fn error(json: &str, at: &str, root: &str) -> InvalidEvent {
        let de = &mut serde_json::Deserializer::from_str(json);
        from_path_error(
            serde_path_to_error::deserialize::<_, Outer>(de).unwrap_err(),
            at,
            root,
        )
    }

    #[test]
    fn names_the_missing_or_mistyped_field() {
        let cases = [
            (r#"{"inner": {}}"#, "", "body", "inner.name", "is missing"),
            (
                r#"{"inner": {}}"#,
                "events[1].",
                "events[1]",
                "events[1].inner.name",
                "is missing",
            ),
            (r#"{}"#, "", "body", "inner", "is missing"),
            (
                r#"{}"#,
                "events[0].",
                "events[0]",
                "events[0].inner",
                "is missing",
            ),
            (
                r#"{"inner": {"name": 1}}"#,
                "",
                "body",
                "inner.name",
                "invalid type",
            ),
            (r#""7""#, "", "body", "body", "invalid type"),
        ];
        for (json, at, root, field, message) in cases {
            let e = error(json, at, root);
            assert_eq!(e.field, field, "{json}");
            assert!(e.message.starts_with(message), "{json}: {}", e.message);
        }
    }

    #[test]
    fn long_values_are_cut_when_echoed() {
        assert_eq!(quoted("abc", 5), "\"abc\"");
        assert_eq!(quoted(&"x".repeat(100), 3), "\"xxx\"…");
        assert_eq!(quoted("ééé", 2), "\"éé\"…");
    }
}
