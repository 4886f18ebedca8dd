//! Size limits on inbound data, so one tenant cannot exhaust memory, SQS or DynamoDB limits.

/// Largest accepted request body on any endpoint (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most events in one `{"events": [...]}` batch.
pub const MAX_EVENTS_PER_BATCH: usize = 100;
/// Longest message text (64 KiB), far under SQS's 256 KiB message limit.
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest name, email or phone field.
pub const MAX_SHORT_FIELD_BYTES: usize = 512;
/// Longest URL field.
pub const MAX_URL_BYTES: usize = 2048;
/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 20;
