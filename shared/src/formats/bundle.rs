//! Building bundles: messages in timestamp order, the `aggregation` HTML digest, and
//! numbered parts when one window's bundle would not fit in an SQS message.

use crate::domain::{Account, Bundle, Chat, Message, MessageId};
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

/// The digest: `from {sender} on {YYYY-MM-DD HH:MM}: {text}` lines joined by `<br/>`, then
/// the link. Names and text are HTML-escaped (a `<script>` in a CRM note is a vulnerability).
pub fn aggregation_html(
    messages: &[Message],
    permalink: &str,
    line_chars: Option<usize>,
) -> String {
    let mut html = String::new();
    for m in messages {
        let text: std::borrow::Cow<'_, str> = match line_chars {
            Some(limit) if m.text.chars().count() > limit => {
                format!("{}…", m.text.chars().take(limit).collect::<String>()).into()
            }
            _ => m.text.as_str().into(),
        };
        html.push_str(&format!(
            "from {} on {}: {}<br/>",
            encode_text(&m.sender.full_name),
            m.timestamp.utc().format("%Y-%m-%d %H:%M"),
            encode_text(&text),
        ));
    }
    html.push_str(&format!(
        "Click <a href='{}'>here</a> to open the conversation",
        encode_single_quoted_attribute(permalink)
    ));
    html
}

fn encoded_len(bundle: &Bundle) -> usize {
    let body = serde_json::to_string(bundle).expect("bundle serializes");
    serde_json::to_string(&body)
        .expect("string serializes")
        .len()
}

fn build(
    account: &Account,
    chat: &Chat,
    messages: &[Message],
    permalink_base: &str,
    line_chars: Option<usize>,
) -> Bundle {
    let first = messages.first().expect("a bundle has messages");
    let last = messages.last().expect("a bundle has messages");
    Bundle {
        whatsapp_account: account.clone(),
        chat: chat.clone(),
        messages: messages.to_vec(),
        first_message_timestamp: first.timestamp,
        last_message_timestamp: last.timestamp,
        aggregation: aggregation_html(
            messages,
            &permalink(permalink_base, &first.message_id),
            line_chars,
        ),
        part: None,
        parts: None,
    }
}

fn split(account: &Account, chat: &Chat, messages: &[Message], base: &str, out: &mut Vec<Bundle>) {
    let bundle = build(account, chat, messages, base, None);
    if encoded_len(&bundle) <= MAX_ENCODED_BODY_BYTES {
        out.push(bundle);
    } else if messages.len() == 1 {
        out.push(build(
            account,
            chat,
            messages,
            base,
            Some(OVERSIZED_LINE_CHARS),
        ));
    } else {
        let (left, right) = messages.split_at(messages.len() / 2);
        split(account, chat, left, base, out);
        split(account, chat, right, base, out);
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
    if messages.is_empty() {
        return Vec::new();
    }
    messages.sort_by(|a, b| (a.timestamp, &a.message_id).cmp(&(b.timestamp, &b.message_id)));
    let mut parts = Vec::new();
    split(account, chat, &messages, permalink_base, &mut parts);
    let count = parts.len() as u32;
    if count > 1 {
        for (i, part) in parts.iter_mut().enumerate() {
            part.part = Some(i as u32 + 1);
            part.parts = Some(count);
        }
    }
    parts
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
