//! A window too big to hold in memory (a busy group chat's day), flushed part by part. A
//! first pass over its pages sizes every message and finds the latest received, whose
//! account and chat the bundle carries; a second builds each part as its messages arrive
//! and queues it at once. Memory holds a page, one part and a few bytes per message.
//! Every queued part is recorded on the window, so a run stopped midway (its deadline, a
//! lost claim, a failure) is continued by a later one without queueing a part twice.

use crate::bundle::{envelope, heading};
use crate::plan::BigWindow;
use crate::Aggregator;
use outflow::domain::{Account, BundleId, Chat, Message, PendingWindow, Timestamp, WindowMessage};
use outflow::formats::bundle::{build_part, part_lengths, Sized};
use outflow::store::WindowPageCursor;
use std::time::Instant;

/// How a streamed flush ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Streamed {
    /// Every part is queued.
    Done {
        /// Parts of the bundle (none when its messages were gone).
        parts: usize,
        /// Parts this run queued (the rest were queued by an earlier one).
        sent: usize,
        /// Messages in the bundle.
        messages: usize,
    },
    /// The deadline came first, or the window's claim was lost: a later run goes on.
    Stopped {
        /// Parts this run queued before it stopped.
        sent: usize,
    },
}

/// Why a streamed flush failed: the window's failure reason.
type Why = String;

/// The first pass: every message's size, and the latest received.
#[derive(Default)]
struct Survey {
    sized: Vec<Sized>,
    latest: Option<WindowMessage>,
}

fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|d| Instant::now() >= d)
}

/// What the second pass builds: what every part carries, where parts end, and how many
/// an earlier run queued already.
struct PartPlan {
    account: Account,
    chat: Chat,
    lengths: Vec<usize>,
    messages: usize,
    bounds: (Timestamp, Timestamp),
    id: BundleId,
    done: usize,
}

impl Aggregator {
    /// Flushes a window too big to hold, part by part, for the run `run_id` that holds
    /// its claim.
    pub(crate) async fn stream(
        &self,
        big: &BigWindow,
        run_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Streamed, Why> {
        let Some(survey) = self.survey(&big.window, deadline).await? else {
            return Ok(Streamed::Stopped { sent: 0 });
        };
        match self.plan_parts(big, survey).await? {
            Some(plan) => self.send_parts(&big.window, &plan, run_id, deadline).await,
            None => Ok(Streamed::Done {
                parts: 0,
                sent: 0,
                messages: 0,
            }),
        }
    }

    /// The parts of the surveyed window (`None`: its messages are gone).
    async fn plan_parts(&self, big: &BigWindow, survey: Survey) -> Result<Option<PartPlan>, Why> {
        let w = &big.window;
        let Some(latest) = survey.latest else {
            return Ok(None);
        };
        let (account, chat) = heading(&latest, &big.state);
        let lengths = part_lengths(&account, &chat, &survey.sized, &self.permalink_base);
        let done = self
            .store
            .window_parts_sent(w)
            .await
            .map_err(|e| format!("its progress could not be read: {e}"))?;
        Ok(Some(PartPlan {
            account,
            chat,
            lengths,
            messages: survey.sized.len(),
            bounds: w.bounds().ok_or("its bounds are not instants")?,
            id: w.bundle_id(),
            done: done as usize,
        }))
    }

    /// The second pass: each part queued as soon as its messages are read.
    async fn send_parts(
        &self,
        w: &PendingWindow,
        plan: &PartPlan,
        run_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Streamed, Why> {
        let (mut part, mut i, mut sent) = (Vec::new(), 0, 0);
        let mut at = None;
        loop {
            if past(deadline) {
                return Ok(Streamed::Stopped { sent });
            }
            let (page, next) = self.page(w, at).await?;
            for m in page {
                let Some(&len) = plan.lengths.get(i) else {
                    return Err(changed());
                };
                part.push(m.event.message);
                if part.len() < len {
                    continue;
                }
                let taken = std::mem::take(&mut part);
                if i >= plan.done {
                    if past(deadline) || !self.queue_part(w, plan, i, taken, run_id).await? {
                        return Ok(Streamed::Stopped { sent });
                    }
                    sent += 1;
                }
                i += 1;
            }
            match next {
                Some(cursor) => at = Some(cursor),
                None if i == plan.lengths.len() && part.is_empty() => break,
                None => return Err(changed()),
            }
        }
        Ok(Streamed::Done {
            parts: plan.lengths.len(),
            sent,
            messages: plan.messages,
        })
    }

    /// Queues part `i` and records it; false when the run no longer holds the window.
    async fn queue_part(
        &self,
        w: &PendingWindow,
        plan: &PartPlan,
        i: usize,
        messages: Vec<Message>,
        run_id: &str,
    ) -> Result<bool, Why> {
        let total = plan.lengths.len();
        let base = &self.permalink_base;
        let bundle = build_part(&plan.account, &plan.chat, messages, (i, total), base);
        let delivery = envelope(w, plan.bounds, &plan.id, (i, total), plan.messages, bundle);
        self.queue
            .send_first(&[delivery])
            .await
            .map_err(|e| format!("the queue refused part {} of its bundle: {e}", i + 1))?;
        self.store
            .save_window_progress(w, run_id, i as u32 + 1)
            .await
            .map_err(|e| format!("its progress could not be saved: {e}"))
    }

    /// One page of the window's messages.
    async fn page(
        &self,
        w: &PendingWindow,
        at: Option<WindowPageCursor>,
    ) -> Result<(Vec<WindowMessage>, Option<WindowPageCursor>), Why> {
        self.store
            .window_page(w, at)
            .await
            .map_err(|e| format!("its messages could not be read: {e}"))
    }

    /// The first pass over a window's pages; `None` when the deadline came first.
    async fn survey(
        &self,
        w: &PendingWindow,
        deadline: Option<Instant>,
    ) -> Result<Option<Survey>, Why> {
        let mut survey = Survey::default();
        let mut at = None;
        loop {
            if past(deadline) {
                return Ok(None);
            }
            let (page, next) = self.page(w, at).await?;
            for m in page {
                survey.sized.push(Sized::of(&m.event.message));
                // The last of equal arrival times, as the in-memory bundle picks it.
                if survey
                    .latest
                    .as_ref()
                    .is_none_or(|l| m.received_ms >= l.received_ms)
                {
                    survey.latest = Some(m);
                }
            }
            match next {
                Some(cursor) => at = Some(cursor),
                None => return Ok(Some(survey)),
            }
        }
    }
}

/// The window's messages differ between the two passes (one arrived or expired between).
fn changed() -> Why {
    "its messages changed while it was flushed (tried again from its progress)".into()
}
