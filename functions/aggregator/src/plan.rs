//! The decisions of a flush, without I/O: which chat's bundle may open its conversation
//! (`is_new_chat`), the bundles of the claimed windows, and how they are grouped into
//! SendMessageBatch calls. `run.rs` reads and writes around them.

use crate::bundle::{loaded, over_queue_limit, Loaded};
use outflow::domain::{ChatId, ChatState, DeliveryEnvelope, PendingWindow, WorkspaceId};
use outflow::queue;
use outflow::store::{Announcement, StoreResult, WindowRead};
use std::collections::{HashMap, HashSet};
use std::ops::Range;

type ChatKey = (WorkspaceId, ChatId);

fn chat_key(w: &PendingWindow) -> ChatKey {
    (w.workspace_id.clone(), w.chat_id.clone())
}

/// A claimed window's bundle, waiting to be enqueued.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The window.
    pub window: PendingWindow,
    /// Its bundle's one part (a bundle of several is streamed).
    pub envelope: DeliveryEnvelope,
    /// Messages in it.
    pub messages: usize,
}

/// A window flushed part by part from its pages: too big to hold in memory, or its bundle
/// takes several parts.
#[derive(Debug, Clone)]
pub struct BigWindow {
    /// The window.
    pub window: PendingWindow,
    /// Its chat's state as this flush decided it (`is_new` only for a chat's first).
    pub state: ChatState,
}

/// One claimed window's flush, in window order.
#[derive(Debug, Clone)]
pub enum Flush {
    /// A bundle built in memory.
    Bundle(Ready),
    /// A window flushed part by part.
    Stream(BigWindow),
}

impl Flush {
    /// The window flushed.
    pub fn window(&self) -> &PendingWindow {
        match self {
            Flush::Bundle(r) => &r.window,
            Flush::Stream(big) => &big.window,
        }
    }

    /// The bundle, when it was built in memory.
    pub fn bundle(&self) -> Option<&Ready> {
        match self {
            Flush::Bundle(r) => Some(r),
            Flush::Stream(_) => None,
        }
    }

    /// Queue entries it needs in the run's batches (a streamed window none: it is sent
    /// at the end of the run).
    fn entries(&self) -> usize {
        match self {
            Flush::Bundle(_) => 1,
            Flush::Stream(_) => 0,
        }
    }
}

/// The chats whose conversation a bundle of this flush may open: each chat's first
/// window with messages announces, under its bundle id (a retried bundle decides alike).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Announcements {
    /// What to ask the chats' state.
    pub asked: Vec<Announcement>,
    /// Each chat's answer, by position in `asked`.
    first_of: HashMap<ChatKey, usize>,
}

/// True for a window that becomes a bundle: it has messages and real bounds.
fn bundled(w: &PendingWindow, read: &WindowRead) -> bool {
    let has_messages = match read {
        WindowRead::Loaded(messages) => !messages.is_empty(),
        WindowRead::TooBig => true,
    };
    has_messages && w.bounds().is_some()
}

/// The announcements of the claimed windows (`messages[i]` are `claimed[i]`'s). A window
/// `held` behind an earlier one (another run's, or one that failed) announces nothing: it
/// does not go out now, and the earlier window, going out first, opens the conversation.
pub fn announcements(
    claimed: &[PendingWindow],
    messages: &[WindowRead],
    held: impl Fn(&PendingWindow) -> bool,
) -> Announcements {
    let mut out = Announcements::default();
    for (w, m) in claimed.iter().zip(messages) {
        if bundled(w, m) && !held(w) && !out.first_of.contains_key(&chat_key(w)) {
            out.first_of.insert(chat_key(w), out.asked.len());
            out.asked.push(Announcement {
                ws: w.workspace_id.clone(),
                chat: w.chat_id.clone(),
                by: w.bundle_id().to_string(),
            });
        }
    }
    out
}

/// Each asked chat's state for `bundles` (the default where asking failed: those chats'
/// windows are taken out), and the chats that could not be asked, with why.
pub fn answered(
    asked: &[Announcement],
    answers: Vec<StoreResult<ChatState>>,
) -> (Vec<ChatState>, HashMap<ChatKey, String>) {
    let mut unasked = HashMap::new();
    let states = asked
        .iter()
        .zip(answers)
        .map(|(a, answer)| {
            answer.unwrap_or_else(|e| {
                unasked.insert((a.ws.clone(), a.chat.clone()), e.to_string());
                ChatState::default()
            })
        })
        .collect();
    (states, unasked)
}

/// What a flush of claimed windows makes: bundles to enqueue, and windows to finish
/// without one (nothing landed in them, or their item is damaged).
#[derive(Debug, Default)]
pub struct Bundles {
    /// Bundles and windows to stream, in window order (a chat's windows stay in order).
    pub ready: Vec<Flush>,
    /// Windows with no message: finished as they are.
    pub empty: Vec<PendingWindow>,
    /// Windows whose bounds are not instants (a damaged item): left claimed, logged.
    pub damaged: Vec<PendingWindow>,
}

/// The bundles of the claimed windows, given each chat's state (`states[i]` answers
/// `announced.asked[i]`). Only a chat's first bundle here can be new.
pub fn bundles(
    claimed: Vec<PendingWindow>,
    messages: Vec<WindowRead>,
    announced: &Announcements,
    states: &[ChatState],
    permalink_base: &str,
) -> Bundles {
    let mut out = Bundles::default();
    let mut seen: HashSet<ChatKey> = HashSet::new();
    for (window, read) in claimed.into_iter().zip(messages) {
        if read == WindowRead::Loaded(Vec::new()) {
            out.empty.push(window);
            continue;
        }
        if !bundled(&window, &read) {
            // Decided before the chat's turn is used: its next window can open the
            // conversation.
            out.damaged.push(window);
            continue;
        }
        let key = chat_key(&window);
        let mut state = announced
            .first_of
            .get(&key)
            .and_then(|&i| states.get(i))
            .cloned()
            .unwrap_or_default();
        state.is_new &= seen.insert(key);
        let WindowRead::Loaded(messages) = read else {
            out.ready.push(Flush::Stream(BigWindow { window, state }));
            continue;
        };
        let count = messages.len();
        match loaded(&window, messages, &state, permalink_base) {
            // Several parts go one by one, their cut saved first: a part queued before a
            // failure is never sent again under its number holding other messages (a
            // retry cuts anew once an edit, an expiry or a repair changed the sizes).
            Some(Loaded::Several) => out.ready.push(Flush::Stream(BigWindow { window, state })),
            Some(Loaded::One(envelope)) => out.ready.push(Flush::Bundle(Ready {
                window,
                envelope,
                messages: count,
            })),
            None => out.damaged.push(window),
        }
    }
    out
}

/// True when the bundle's one part is over the queue's message limit: the queue can never
/// take it (a part is sized to fit; only a message ingest would refuse gets here).
pub fn oversized(r: &Ready) -> bool {
    over_queue_limit(&r.envelope)
}

/// Groups bundles into SendMessageBatch calls of at most 10 entries, in order. A window to
/// stream takes no entry here: it is kept for the end of the run.
pub fn send_batches(ready: &[Flush]) -> Vec<Range<usize>> {
    let mut out: Vec<Range<usize>> = Vec::new();
    let mut entries: usize = 0;
    for (i, r) in ready.iter().enumerate() {
        match out.last_mut() {
            Some(last) if entries.saturating_add(r.entries()) <= queue::BATCH => {
                last.end = i + 1;
                entries += r.entries();
            }
            _ => {
                out.push(i..i + 1);
                entries = r.entries();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use outflow::domain::{
        Account, Aggregation, Chat, Direction, Message, MessageEvent, MessageId, Party, Timestamp,
        Window, WindowMessage,
    };

    fn window(chat: &str, hour: u32) -> PendingWindow {
        let at = Timestamp::parse(&format!("2026-03-01T{hour:02}:10:00Z")).unwrap();
        let w = Window::containing(at, Aggregation::Hours1).unwrap();
        PendingWindow::new(
            &WorkspaceId::new_unchecked("ws_a"),
            &ChatId::new_unchecked(chat),
            Aggregation::Hours1,
            w,
        )
    }

    fn messages(n: usize) -> Vec<WindowMessage> {
        let party = Party {
            full_name: "A".into(),
            phone: String::new(),
        };
        (0..n)
            .map(|i| WindowMessage {
                event: MessageEvent {
                    whatsapp_account: Account {
                        full_name: "acct".into(),
                        email: String::new(),
                        phone: String::new(),
                    },
                    chat: Chat {
                        full_name: "c".into(),
                        responsible_name: String::new(),
                        responsible_email: String::new(),
                        chat_url: String::new(),
                        chat_id: ChatId::new_unchecked("c"),
                        is_new_chat: false,
                        is_group: false,
                        phone: String::new(),
                    },
                    message: Message {
                        direction: Direction::Received,
                        timestamp: Timestamp::from_unix(i as i64).unwrap(),
                        message_id: MessageId::new_unchecked(format!("m{i}")),
                        sender: party.clone(),
                        recipient: party.clone(),
                        text: "hi".into(),
                        attachments: Vec::new(),
                    },
                },
                received_ms: i as i64,
            })
            .collect()
    }

    #[test]
    fn each_chat_asks_once_for_its_first_window_with_messages() {
        let claimed = [
            window("a", 8),
            window("b", 8),
            window("a", 9),
            window("c", 9),
        ];
        let found = [loaded(0), loaded(2), loaded(1), WindowRead::TooBig];
        let asked: Vec<(String, String)> = announcements(&claimed, &found, |_| false)
            .asked
            .iter()
            .map(|a| (a.chat.to_string(), a.by.clone()))
            .collect();
        assert_eq!(
            asked,
            [
                ("b".to_string(), claimed[1].bundle_id().to_string()),
                ("a".to_string(), claimed[2].bundle_id().to_string()),
                ("c".to_string(), claimed[3].bundle_id().to_string()),
            ]
        );
    }

    #[test]
    fn a_chat_whose_state_failed_is_named_and_the_others_keep_theirs() {
        let claimed = [window("a", 9), window("b", 9)];
        let announced = announcements(&claimed, &[loaded(1), loaded(1)], |_| false);
        let new = ChatState {
            is_new: true,
            responsible: None,
        };
        let failed = outflow::store::StoreError::Corrupt("refused".into());
        let (states, unasked) = answered(&announced.asked, vec![Err(failed), Ok(new.clone())]);
        assert_eq!(states, [ChatState::default(), new]);
        assert_eq!(
            unasked
                .get(&chat_key(&claimed[0]))
                .map(|why| why.contains("refused")),
            Some(true)
        );
        assert!(!unasked.contains_key(&chat_key(&claimed[1])));
    }

    #[test]
    fn a_window_held_behind_an_earlier_one_announces_nothing() {
        let claimed = [window("a", 9), window("b", 9)];
        let found = [loaded(1), loaded(1)];
        let held = |w: &PendingWindow| w.chat_id.to_string() == "a";
        let asked: Vec<String> = announcements(&claimed, &found, held)
            .asked
            .iter()
            .map(|a| a.chat.to_string())
            .collect();
        assert_eq!(asked, ["b"]);
    }

    #[test]
    fn only_a_chats_first_bundle_can_be_new_and_empty_windows_finish_alone() {
        let claimed = vec![
            window("a", 8),
            window("a", 9),
            window("b", 9),
            window("c", 9),
        ];
        let found = vec![loaded(2), loaded(1), loaded(0), loaded(1)];
        let announced = announcements(&claimed, &found, |_| false);
        let states = [
            ChatState {
                is_new: true,
                responsible: None,
            },
            ChatState::default(),
        ];
        let out = bundles(claimed, found, &announced, &states, "https://p.example");
        let new: Vec<(String, bool, usize)> = out
            .ready
            .iter()
            .filter_map(Flush::bundle)
            .map(|r| {
                let body: serde_json::Value = serde_json::from_str(&r.envelope.body).unwrap();
                (
                    r.window.chat_id.to_string(),
                    body["chat"]["is_new_chat"].as_bool().unwrap(),
                    r.messages,
                )
            })
            .collect();
        assert_eq!(
            new,
            [
                ("a".to_string(), true, 2),
                ("a".to_string(), false, 1),
                ("c".to_string(), false, 1)
            ]
        );
        assert_eq!(out.empty.len(), 1);
        assert_eq!(out.empty[0].chat_id.as_str(), "b");
    }

    #[test]
    fn a_damaged_window_is_set_aside_without_taking_its_chats_turn() {
        let mut damaged = window("a", 8);
        damaged.end_ms = i64::MAX;
        let claimed = vec![damaged, window("a", 9)];
        let found = vec![loaded(1), loaded(1)];
        let announced = announcements(&claimed, &found, |_| false);
        assert_eq!(announced.asked.len(), 1);
        assert_eq!(announced.asked[0].by, claimed[1].bundle_id().to_string());
        let states = [ChatState {
            is_new: true,
            responsible: None,
        }];
        let out = bundles(claimed, found, &announced, &states, "https://p.example");
        assert_eq!(out.damaged.len(), 1);
        assert_eq!(out.ready.len(), 1);
        let ready = out.ready[0].bundle().unwrap();
        let body: serde_json::Value = serde_json::from_str(&ready.envelope.body).unwrap();
        assert_eq!(body["chat"]["is_new_chat"], true);
    }

    #[test]
    fn a_window_too_big_to_hold_is_streamed_in_its_place_and_can_open_the_chat() {
        let claimed = vec![window("a", 8), window("a", 9), window("b", 9)];
        let found = vec![WindowRead::TooBig, loaded(1), loaded(2)];
        let announced = announcements(&claimed, &found, |_| false);
        assert_eq!(announced.asked[0].by, claimed[0].bundle_id().to_string());
        let new = ChatState {
            is_new: true,
            responsible: None,
        };
        let states = [new.clone(), ChatState::default()];
        let out = bundles(claimed, found, &announced, &states, "https://p.example");
        let Flush::Stream(big) = &out.ready[0] else {
            panic!("streamed: {:?}", out.ready[0]);
        };
        assert_eq!(big.state, new);
        let later = out.ready[1].bundle().unwrap();
        let body: serde_json::Value = serde_json::from_str(&later.envelope.body).unwrap();
        assert_eq!(
            body["chat"]["is_new_chat"], false,
            "only the chat's first is new"
        );
        let batches = send_batches(&out.ready);
        assert_eq!(batches.len(), 1, "the stream takes no entry");
        assert_eq!(batches[0], 0..3);
    }

    #[test]
    fn a_loaded_window_whose_bundle_takes_several_parts_is_streamed() {
        let mut read = messages(3);
        // About 240 KB each as queued (a quote travels as 4 bytes): a part each.
        for m in &mut read[..2] {
            m.event.message.text = "\"".repeat(60_000);
        }
        let claimed = vec![window("a", 8), window("b", 8)];
        let found = vec![WindowRead::Loaded(read), loaded(1)];
        let announced = announcements(&claimed, &found, |_| false);
        let new = ChatState {
            is_new: true,
            responsible: None,
        };
        let states = [new.clone(), ChatState::default()];
        let out = bundles(claimed, found, &announced, &states, "https://p.example");
        // Part by part, its cut saved before the first is queued: a retry after some
        // parts were queued goes on from them instead of cutting the messages anew.
        let Flush::Stream(big) = &out.ready[0] else {
            panic!("streamed: {:?}", out.ready[0]);
        };
        assert_eq!((big.window.chat_id.as_str(), &big.state), ("a", &new));
        assert!(
            out.ready[1].bundle().is_some(),
            "the small window in memory"
        );
    }

    #[test]
    fn a_part_the_queue_cannot_take_is_oversized() {
        let mut r = Ready {
            window: window("a", 8),
            envelope: bundle_part(),
            messages: 1,
        };
        assert!(!oversized(&r));
        r.envelope.body = "x".repeat(queue::spec::MAX_MESSAGE_BYTES);
        assert!(oversized(&r));
    }

    #[test]
    fn batches_hold_at_most_ten_entries_in_order_and_a_stream_takes_none() {
        let one = || {
            Flush::Bundle(Ready {
                window: window("a", 8),
                envelope: bundle_part(),
                messages: 1,
            })
        };
        let mut all: Vec<Flush> = (0..23).map(|_| one()).collect();
        assert_eq!(send_batches(&all), [0..10, 10..20, 20..23]);
        all.insert(
            1,
            Flush::Stream(BigWindow {
                window: window("b", 8),
                state: ChatState::default(),
            }),
        );
        assert_eq!(send_batches(&all), [0..11, 11..21, 21..24]);
        assert!(send_batches(&[]).is_empty());
    }

    fn loaded(n: usize) -> WindowRead {
        WindowRead::Loaded(messages(n))
    }

    fn bundle_part() -> DeliveryEnvelope {
        let w = window("a", 8);
        match crate::bundle::loaded(&w, messages(1), &ChatState::default(), "https://p") {
            Some(Loaded::One(envelope)) => envelope,
            other => panic!("one part: {other:?}"),
        }
    }
}
