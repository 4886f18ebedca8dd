//! One event's JSON, as a parsed tree or as its raw bytes: the typed structs of each kind
//! are read from either, so the checked and the fast path map events with the same code.

use super::invalid::{from_path_error, InvalidEvent};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Where a parser reads an event's typed struct from.
pub(crate) trait EventSource {
    /// Deserializes the whole event as `T`; `at` prefixes the failing field's path.
    fn read<T: DeserializeOwned>(self, at: &str) -> Result<T, InvalidEvent>;
}

impl EventSource for Value {
    fn read<T: DeserializeOwned>(self, at: &str) -> Result<T, InvalidEvent> {
        serde_path_to_error::deserialize(self)
            .map_err(|err| from_path_error(err, at, at.trim_end_matches('.')))
    }
}

impl EventSource for &[u8] {
    fn read<T: DeserializeOwned>(self, at: &str) -> Result<T, InvalidEvent> {
        // The fast path only keeps successes; a failure is parsed again by the checked
        // path, which names the field.
        serde_json::from_slice(self).map_err(|e| InvalidEvent::new(at, e.to_string()))
    }
}
