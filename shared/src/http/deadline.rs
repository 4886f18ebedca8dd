//! The instant a request must be answered by: the Lambda invocation's deadline less a
//! margin, put on each request by the function's `main` (absent in-process, where there
//! is no invocation to outlive).

use std::time::{Duration, Instant};

/// Answer by this instant (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline(pub Instant);

/// Time kept for answering after a handler gives up (the response, the metrics flush).
pub const ANSWER_MARGIN: Duration = Duration::from_secs(1);
