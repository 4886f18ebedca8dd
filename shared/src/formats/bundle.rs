//! Building bundles: messages in timestamp order, the `aggregation` HTML digest, and
//! numbered parts when one window's bundle would not fit in an SQS message.

use super::escaped::{escaped_json_len, twice_escaped_len};
use crate::domain::{Account, Bundle, Chat, Message, MessageId, Timestamp};
use chrono::{Datelike, Timelike};
use html_escape::{encode_single_quoted_attribute, encode_text};

/// Largest delivery body, measured as it travels inside the queue message (JSON-escaped):
/// SQS takes 256 KiB per message, the envelope around the body needs a few hundred bytes.
pub const MAX_ENCODED_BODY_BYTES: usize = 240 * 1024;
/// A single message too big for one part keeps its full text in `messages`, but its line
/// in `aggregation` is cut to this many characters.
const OVERSIZED_LINE_CHARS: usize = 1_000;

/// The link at the end of the digest, to the bundle's first message.
pub fn permalink(base: &str, first: &MessageId) -> String {
    let id: String = url::form_urlencoded::byte_serialize(first.as_str().as_bytes()).collect();
    format!("{}/{id}/", base.trim_end_matches('/'))
}

/// One digest line: `from {sender} on {YYYY-MM-DD HH:MM}: {text}<br/>`, names and text
/// HTML-escaped (a `<script>` in a CRM note is a vulnerability), the text cut to
/// `line_chars` characters if given.
fn digest_line(m: &Message, line_chars: Option<usize>) -> String {
    let text: std::borrow::Cow<'_, str> = match line_chars {
        Some(limit) if m.text.chars().count() > limit => {
            format!("{}…", m.text.chars().take(limit).collect::<String>()).into()
        }
        _ => m.text.as_str().into(),
    };
    // Written field by field: chrono's `format` parses its pattern on every call.
    let at = m.timestamp.utc();
    format!(
        "from {} on {:04}-{:02}-{:02} {:02}:{:02}: {}<br/>",
        encode_text(&m.sender.full_name),
        at.year(),
        at.month(),
        at.day(),
        at.hour(),
        at.minute(),
        encode_text(&text),
    )
}

/// The digest's last line: the link to the conversation.
fn digest_link(permalink: &str) -> String {
    format!(
        "Click <a href='{}'>here</a> to open the conversation",
        encode_single_quoted_attribute(permalink)
    )
}

/// The digest: one line per message, then the link.
pub fn aggregation_html(
    messages: &[Message],
    permalink: &str,
    line_chars: Option<usize>,
) -> String {
    let mut html: String = messages
        .iter()
        .map(|m| digest_line(m, line_chars))
        .collect();
    html.push_str(&digest_link(permalink));
    html
}

fn encoded_len(bundle: &Bundle) -> usize {
    escaped_json_len(bundle)
}

/// What a message adds to a part as it travels: its JSON in `messages` plus a comma, and
/// its digest line.
fn message_cost(m: &Message, line: &str) -> usize {
    escaped_json_len(m) + 1 + twice_escaped_len(line)
}

/// A part's size before any message: every other field, at its widest (part numbers
/// present, the link to its first message).
fn part_overhead(account: &Account, chat: &Chat, first: &Sized, permalink_base: &str) -> usize {
    encoded_len(&Bundle {
        whatsapp_account: account.clone(),
        chat: chat.clone(),
        messages: Vec::new(),
        first_message_timestamp: first.timestamp,
        last_message_timestamp: first.timestamp,
        aggregation: digest_link(&permalink(permalink_base, &first.message_id)),
        part: Some(u32::MAX),
        parts: Some(u32::MAX),
    })
}

/// What fitting a message into a part needs to know of it: a few bytes in place of the
/// message, so a window too big to hold can be sized in one pass and built in another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sized {
    /// What it adds to a part as it travels (its JSON, a comma and its digest line).
    cost: usize,
    timestamp: Timestamp,
    message_id: MessageId,
}

impl Sized {
    /// The size of `m` in a part.
    pub fn of(m: &Message) -> Self {
        Self {
            cost: message_cost(m, &digest_line(m, None)),
            timestamp: m.timestamp,
            message_id: m.message_id.clone(),
        }
    }
}

/// How many messages each part takes: parts are filled in order up to the limit (the
/// sizes are exact and the overhead is taken at its widest, so every part fits); a
/// message too big for a part of its own goes alone.
pub fn part_lengths(
    account: &Account,
    chat: &Chat,
    sized: &[Sized],
    permalink_base: &str,
) -> Vec<usize> {
    let mut lengths = Vec::new();
    let mut start = 0;
    while start < sized.len() {
        let overhead = part_overhead(account, chat, &sized[start], permalink_base);
        let budget = MAX_ENCODED_BODY_BYTES.saturating_sub(overhead);
        let (mut end, mut used) = (start, 0);
        while end < sized.len() && used + sized[end].cost <= budget {
            used += sized[end].cost;
            end += 1;
        }
        let end = end.max(start + 1);
        lengths.push(end - start);
        start = end;
    }
    lengths
}

/// Part `index` (0-based) of `total`, numbered when there is more than one. A message
/// too big for a part of its own keeps its full text in `messages`; its digest line is
/// cut.
pub fn build_part(
    account: &Account,
    chat: &Chat,
    messages: Vec<Message>,
    (index, total): (usize, usize),
    permalink_base: &str,
) -> Bundle {
    let first = messages.first().expect("a part has messages");
    // The earliest and the latest, whatever the order (another endpoint's streamed window
    // is in order of arrival).
    let timestamps = messages.iter().map(|m| m.timestamp);
    let earliest = timestamps.clone().min().unwrap_or(first.timestamp);
    let latest = timestamps.max().unwrap_or(first.timestamp);
    let mut lines: Vec<String> = messages.iter().map(|m| digest_line(m, None)).collect();
    if let [single] = messages.as_slice() {
        let sized = Sized::of(single);
        let overhead = part_overhead(account, chat, &sized, permalink_base);
        if overhead + sized.cost > MAX_ENCODED_BODY_BYTES {
            lines = vec![digest_line(single, Some(OVERSIZED_LINE_CHARS))];
        }
    }
    let mut aggregation = lines.concat();
    aggregation.push_str(&digest_link(&permalink(permalink_base, &first.message_id)));
    let numbered = (total > 1).then_some(total as u32);
    Bundle {
        whatsapp_account: account.clone(),
        chat: chat.clone(),
        first_message_timestamp: earliest,
        last_message_timestamp: latest,
        aggregation,
        part: numbered.map(|_| index as u32 + 1),
        parts: numbered,
        messages,
    }
}

/// The bundle of one chat's window: one part, or numbered parts that each fit the queue.
/// Messages are ordered by timestamp (then id, so equal instants order stably).
pub fn build_parts(
    account: &Account,
    chat: &Chat,
    mut messages: Vec<Message>,
    permalink_base: &str,
) -> Vec<Bundle> {
    messages.sort_by(|a, b| (a.timestamp, &a.message_id).cmp(&(b.timestamp, &b.message_id)));
    let sized: Vec<Sized> = messages.iter().map(Sized::of).collect();
    let lengths = part_lengths(account, chat, &sized, permalink_base);
    let total = lengths.len();
    let mut rest = messages.into_iter();
    lengths
        .into_iter()
        .enumerate()
        .map(|(i, len)| {
            let part = rest.by_ref().take(len).collect();
            build_part(account, chat, part, (i, total), permalink_base)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Bundle, Timestamp};
    use serde_json::Value;

    const SEED: &str = include_str!("../../../../shared/fixtures/timelines_bundle_example.json");

    fn seed() -> Bundle {
        serde_json::from_str(SEED).unwrap()
    }

    #[test]
    fn the_seed_bundle_round_trips_field_for_field() {
        let back = serde_json::to_value(seed()).unwrap();
        assert_eq!(back, serde_json::from_str::<Value>(SEED).unwrap());
    }

    #[test]
    fn a_part_in_order_of_arrival_names_its_earliest_and_latest_timestamps() {
        let s = seed();
        let mut messages = s.messages.clone();
        messages.reverse(); // arrived in the other order
        let part = build_part(&s.whatsapp_account, &s.chat, messages, (0, 2), "https://p");
        assert!(part.messages[0].timestamp > part.messages[1].timestamp);
        assert_eq!(
            (part.first_message_timestamp, part.last_message_timestamp),
            (part.messages[1].timestamp, part.messages[0].timestamp)
        );
    }

    #[test]
    fn builds_the_seed_bundle_with_an_exact_digest() {
        let s = seed();
        let mut messages = s.messages.clone();
        messages[0].text = "Hi! How are you?".into();
        messages[1].text = "I am fine, how are you?".into();
        messages[1].sender.full_name = "Jane Smith".into();
        messages.reverse(); // out of order on purpose
        let parts = build_parts(
            &s.whatsapp_account,
            &s.chat,
            messages,
            "https://app.timelines.ai/permalink",
        );
        assert_eq!(parts.len(), 1);
        let b = &parts[0];
        assert_eq!(
            b.messages[0].timestamp.to_string(),
            "2021-02-24T16:25:29+0000"
        );
        assert_eq!(
            b.first_message_timestamp.to_string(),
            "2021-02-24T16:25:29+0000"
        );
        assert_eq!(
            b.last_message_timestamp.to_string(),
            "2021-02-24T16:30:29+0000"
        );
        assert_eq!(
            b.aggregation,
            "from John Doe on 2021-02-24 16:25: Hi! How are you?<br/>\
             from Jane Smith on 2021-02-24 16:30: I am fine, how are you?<br/>\
             Click <a href='https://app.timelines.ai/permalink/ddfskhsd76dsfs6dsd5skjsdhf/'>here</a> to open the conversation"
        );
        assert_eq!((b.part, b.parts), (None, None));
        let json = serde_json::to_value(b).unwrap();
        assert!(
            json.get("part").is_none(),
            "unsplit bundles keep the seed's fields only"
        );
    }

    #[test]
    fn html_in_text_is_escaped_in_the_digest_only() {
        let s = seed();
        let mut messages = s.messages[..1].to_vec();
        messages[0].text = "<script>alert('x')</script> & co".into();
        messages[0].sender.full_name = "<b>Eve</b>".into();
        let b = &build_parts(&s.whatsapp_account, &s.chat, messages, "https://x/p")[0];
        assert!(b.aggregation.starts_with(
            "from &lt;b&gt;Eve&lt;/b&gt; on 2021-02-24 16:25: &lt;script&gt;alert('x')&lt;/script&gt; &amp; co<br/>"
        ));
        assert_eq!(b.messages[0].text, "<script>alert('x')</script> & co");
    }

    #[test]
    fn permalinks_cannot_break_out_of_the_attribute() {
        let link = permalink("https://x/p", &MessageId::new_unchecked("a'b c"));
        assert_eq!(link, "https://x/p/a%27b+c/");
        let html = aggregation_html(&[], "https://x/'onmouseover='1", None);
        assert!(!html.contains("'onmouseover='"), "{html}");
    }

    #[test]
    fn big_windows_split_into_numbered_parts_that_fit_sqs() {
        let s = seed();
        let template = s.messages[0].clone();
        let messages: Vec<Message> = (0..5_000)
            .map(|i| {
                let mut m = template.clone();
                m.message_id = MessageId::new_unchecked(format!("m{i:05}"));
                m.timestamp = Timestamp::from_unix(1_614_183_929 + i).unwrap();
                m.text = format!("message number {i} \"quoted\" {}", "x".repeat(300));
                m
            })
            .collect();
        let parts = build_parts(&s.whatsapp_account, &s.chat, messages, "https://x/p");
        assert!(parts.len() > 1);
        let total: usize = parts.iter().map(|p| p.messages.len()).sum();
        assert_eq!(total, 5_000);
        let mut previous = None;
        for (i, p) in parts.iter().enumerate() {
            assert_eq!(
                (p.part, p.parts),
                (Some(i as u32 + 1), Some(parts.len() as u32))
            );
            assert!(encoded_len(p) <= MAX_ENCODED_BODY_BYTES);
            if i + 1 < parts.len() {
                // Filled up to the limit: short of it by less than one more message.
                assert!(
                    encoded_len(p) > MAX_ENCODED_BODY_BYTES - 3_000,
                    "part {i} underfilled"
                );
            }
            for m in &p.messages {
                assert!(previous < Some(m.timestamp), "parts keep timestamp order");
                previous = Some(m.timestamp);
            }
        }
    }

    #[test]
    fn one_huge_message_keeps_its_text_and_a_cut_digest_line() {
        let s = seed();
        let mut m = s.messages[0].clone();
        m.text = "&".repeat(64 * 1024); // 5x when escaped in the digest
        let parts = build_parts(&s.whatsapp_account, &s.chat, vec![m], "https://x/p");
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].messages[0].text.len(), 64 * 1024);
        assert!(parts[0].aggregation.len() < 10_000);
        assert!(encoded_len(&parts[0]) <= MAX_ENCODED_BODY_BYTES);
    }
}
