//! A window too big to hold in memory (a busy group chat's day), flushed part by part. A
//! first pass over its pages sizes every message and finds the latest received, whose
//! account and chat the bundle carries; the plan (each part's length, the account and
//! chat) is saved on the window before any part is queued. A second pass builds each part
//! as its messages arrive, queues it at once and records it with where its messages end.
//! Memory holds a page, one part and a few bytes per message. A run stopped midway (its
//! deadline, a lost claim, a failure) is continued by a later one from the saved plan and
//! the end of the last part queued: the numbering and the parts stay the plan's, whatever
//! was edited or reassigned in between, and nothing is read twice. Only a crash between
//! queueing a part and recording it sends that part again (same `webhook-id`).

use crate::bundle::{envelope, heading};
use crate::plan::BigWindow;
use crate::Aggregator;
use outflow::domain::{BundlePlan, Message, PendingWindow, WindowMessage};
use outflow::formats::bundle::{build_part, part_lengths, Sized};
use outflow::store::{WindowPage, WindowPageCursor};
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

impl Aggregator {
    /// Flushes a window too big to hold, part by part, for the run `run_id` that holds
    /// its claim: from its saved plan and progress when an earlier run began it.
    pub(crate) async fn stream(
        &self,
        big: &BigWindow,
        run_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Streamed, Why> {
        let w = &big.window;
        let progress = self
            .store
            .stream_progress(w)
            .await
            .map_err(|e| format!("its progress could not be read: {e}"))?;
        let (plan, done, after) = match progress.plan {
            Some(plan) => (plan, progress.parts_sent as usize, progress.after),
            None => {
                let Some(survey) = self.survey(w, deadline).await? else {
                    return Ok(Streamed::Stopped { sent: 0 });
                };
                let Some(plan) = self.plan_parts(big, survey) else {
                    return Ok(Streamed::Done {
                        parts: 0,
                        sent: 0,
                        messages: 0,
                    });
                };
                let saved = self.store.save_stream_plan(w, run_id, &plan).await;
                if !saved.map_err(|e| format!("its plan could not be saved: {e}"))? {
                    return Ok(Streamed::Stopped { sent: 0 });
                }
                (plan, 0, None)
            }
        };
        self.send_parts(w, &plan, (done, after), run_id, deadline)
            .await
    }

    /// How the surveyed window is cut into parts (`None`: its messages are gone).
    fn plan_parts(&self, big: &BigWindow, survey: Survey) -> Option<BundlePlan> {
        let (account, chat) = heading(&survey.latest?, &big.state);
        let lengths = part_lengths(&account, &chat, &survey.sized, &self.permalink_base);
        Some(BundlePlan {
            lengths: lengths.into_iter().map(|n| n as u32).collect(),
            account,
            chat,
        })
    }

    /// The second pass, from after the last part queued: each part queued as soon as its
    /// messages are read, then recorded.
    async fn send_parts(
        &self,
        w: &PendingWindow,
        plan: &BundlePlan,
        (done, after): (usize, Option<WindowPageCursor>),
        run_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Streamed, Why> {
        let (mut part, mut i, mut sent) = (Vec::new(), done, 0);
        let mut at = after;
        while i < plan.parts() {
            if past(deadline) {
                return Ok(Streamed::Stopped { sent });
            }
            let page = self.page(w, at.take()).await?;
            for (m, cursor) in page.messages {
                let Some(len) = plan.length(i) else {
                    break;
                };
                part.push(m.event.message);
                if part.len() < len {
                    continue;
                }
                let taken = std::mem::take(&mut part);
                let queued = self.queue_part(w, plan, (i, taken), run_id, &cursor);
                if past(deadline) || !queued.await? {
                    return Ok(Streamed::Stopped { sent });
                }
                (i, sent) = (i + 1, sent + 1);
            }
            match page.next {
                Some(next) => at = Some(next),
                None if i < plan.parts() => return Err(changed()),
                None => {}
            }
        }
        Ok(Streamed::Done {
            parts: plan.parts(),
            sent,
            messages: plan.messages(),
        })
    }

    /// Queues part `i` and records it, ending at `after`; false when the run no longer
    /// holds the window.
    async fn queue_part(
        &self,
        w: &PendingWindow,
        plan: &BundlePlan,
        (i, messages): (usize, Vec<Message>),
        run_id: &str,
        after: &WindowPageCursor,
    ) -> Result<bool, Why> {
        let total = plan.parts();
        let base = &self.permalink_base;
        let bundle = build_part(&plan.account, &plan.chat, messages, (i, total), base);
        let bounds = w.bounds().ok_or("its bounds are not instants")?;
        let id = w.bundle_id();
        let delivery = envelope(w, bounds, &id, (i, total), plan.messages(), bundle);
        self.queue
            .send_first(&[delivery])
            .await
            .map_err(|e| format!("the queue refused part {} of its bundle: {e}", i + 1))?;
        self.store
            .save_stream_progress(w, run_id, i as u32 + 1, after)
            .await
            .map_err(|e| format!("its progress could not be saved: {e}"))
    }

    /// One page of the window's messages.
    async fn page(
        &self,
        w: &PendingWindow,
        at: Option<WindowPageCursor>,
    ) -> Result<WindowPage, Why> {
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
            let page = self.page(w, at).await?;
            for (m, _) in page.messages {
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
            match page.next {
                Some(cursor) => at = Some(cursor),
                None => return Ok(Some(survey)),
            }
        }
    }
}

/// The window holds fewer messages than its plan (one expired since it was planned).
fn changed() -> Why {
    "its messages changed while it was flushed (tried again from its progress)".into()
}
