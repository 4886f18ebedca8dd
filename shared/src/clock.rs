//! The time source of ingest and the aggregator: the system clock in AWS, a settable one
//! in tests and local demos (a message's window is the window of its arrival).

use crate::domain::Timestamp;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// Where "now" comes from.
#[derive(Clone, Debug, Default)]
pub struct Clock(Option<Arc<Mutex<DateTime<Utc>>>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock that stays at `at` until set again.
    pub fn fixed(at: DateTime<Utc>) -> Self {
        Self(Some(Arc::new(Mutex::new(at))))
    }

    /// Moves a fixed clock (no effect on the system clock).
    pub fn set(&self, at: DateTime<Utc>) {
        if let Some(cell) = &self.0 {
            *cell.lock().expect("clock lock") = at;
        }
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match &self.0 {
            Some(cell) => Timestamp::from_utc(*cell.lock().expect("clock lock")),
            None => Timestamp::now(),
        }
    }
}
