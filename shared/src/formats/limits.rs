//! Size limits on inbound data, so one tenant cannot exhaust memory, SQS or DynamoDB
//! limits. Every field of every event kind is checked against them (`validate.rs`).

/// Largest accepted request body on any endpoint (1 MiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most events in one `{"events": [...]}` batch.
pub const MAX_EVENTS_PER_BATCH: usize = 100;
/// Longest message text (64 KiB), far under SQS's 256 KiB message limit and DynamoDB's
/// 400 KB item limit (an edit is stored on the message's item).
pub const MAX_TEXT_BYTES: usize = 64 * 1024;
/// Longest name, email, phone or status field.
pub const MAX_SHORT_FIELD_BYTES: usize = 512;
/// Longest URL field.
pub const MAX_URL_BYTES: usize = 2048;
/// Longest chat, message or account id (128 bytes): ids become part of sort keys
/// (`MSG#<id>`, `CHAT#<id>`, `WIN#<end>#<start>#<chat>`), which DynamoDB caps at 1,024
/// bytes, and a window's key carries a chat id beside 32 bytes of its own.
pub const MAX_ID_BYTES: usize = 128;
/// Most attachments on one message.
pub const MAX_ATTACHMENTS: usize = 20;
