//! A window too big to hold in memory (a busy group chat's day), or whose bundle takes
//! several parts, or whose flush part by part has begun, flushed part by part. A
//! first pass over its pages sizes every message and finds the latest received, whose
//! account and chat the bundle carries; the plan (each part's length, the account and
//! chat) is saved on the window before any part is queued. A second pass builds each part
//! as its messages arrive, queues it at once and records it with where its messages end.
//! Memory holds a page, one part and a few bytes per message. A run stopped midway (its
//! deadline, a lost claim, a failure) is continued by a later one from the saved plan and
//! the end of the last part queued, without reading again what was queued. When the
//! messages no longer fit the plan (one came, expired, or was edited longer), the parts
//! not yet queued are planned again; queued parts keep their numbers. A crash, a lost
//! claim or a failed progress write between queueing a part and recording it sends that
//! part again (same `webhook-id`); the part is marked as being queued first, so an edit
//! of a message in it meanwhile is told as `message:updated` (a receiver drops the part
//! sent again).

use crate::bundle::{envelope, heading, heading_at, over_queue_limit, reheaded};
use crate::plan::BigWindow;
use crate::Aggregator;
use outflow::domain::{Account, BundlePlan, Chat, Message, PendingWindow, WindowMessage};
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
    /// A message is over the queue's limit in a part of its own (damaged data): no plan
    /// can send it, so the window is set aside at once.
    Unsendable {
        /// Parts this run queued before it.
        sent: usize,
    },
    /// It failed (a read, the queue, a write): counted on the window, tried again later.
    Failed {
        /// Parts this run queued before it failed.
        sent: usize,
        /// Why.
        why: Why,
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

/// Plans a flush may make in one run: the first, and again when messages came, went or
/// grew since (each plan covers only the parts not yet queued).
const MAX_PLANS: usize = 3;

/// Where a pass over the rest of a window ended.
enum Pass {
    /// Every part of the plan is queued and no message is left.
    Finished,
    /// The deadline came, or the run lost the window's claim.
    Stopped,
    /// The messages no longer fit the plan (one arrived, expired or was edited longer
    /// since): the rest, from after the last part queued, is planned again.
    Replan,
    /// A part of one message is over the queue's limit: planning again cannot help.
    Unsendable,
}

/// How far this flush got: the next part, where its messages begin, parts this run
/// queued.
struct Position {
    next: usize,
    after: Option<WindowPageCursor>,
    sent: usize,
}

/// What queueing one part did.
enum Queued {
    Yes,
    /// The run no longer holds the window.
    ClaimLost,
    /// The part is over the queue's message limit (a message was edited longer).
    TooBig,
    /// The part holds one message and is still over the limit.
    Never,
}

impl Aggregator {
    /// Flushes a window part by part (too big to hold, or of several parts), for the run `run_id` that holds
    /// its claim: from its saved plan and progress when an earlier run began it.
    pub(crate) async fn stream(
        &self,
        big: &BigWindow,
        run_id: &str,
        deadline: Option<Instant>,
    ) -> Streamed {
        let mut pos = Position {
            next: 0,
            after: None,
            sent: 0,
        };
        match self.stream_from(big, run_id, deadline, &mut pos).await {
            Ok(streamed) => streamed,
            Err(why) => Streamed::Failed {
                sent: pos.sent,
                why,
            },
        }
    }

    async fn stream_from(
        &self,
        big: &BigWindow,
        run_id: &str,
        deadline: Option<Instant>,
        pos: &mut Position,
    ) -> Result<Streamed, Why> {
        let w = &big.window;
        let progress = self
            .store
            .stream_progress(w)
            .await
            .map_err(|e| format!("its progress could not be read: {e}"))?;
        let mut plan = match progress.plan {
            Some(plan) => {
                (pos.next, pos.after) = (progress.parts_sent as usize, progress.after);
                plan
            }
            // Progress without a plan is no progress to go on from.
            None => {
                let Some(survey) = self.survey(w, None, deadline).await? else {
                    return Ok(Streamed::Stopped { sent: 0 });
                };
                let Some(latest) = &survey.latest else {
                    return Ok(Streamed::Done {
                        parts: 0,
                        sent: 0,
                        messages: 0,
                    });
                };
                let first = self.first_plan(big, latest, &survey.sized);
                match self.save_plan(w, run_id, first).await? {
                    Some(plan) => plan,
                    None => return Ok(Streamed::Stopped { sent: 0 }),
                }
            }
        };
        for round in 1..=MAX_PLANS {
            match self.send_parts(big, &plan, pos, run_id, deadline).await? {
                Pass::Finished => {
                    return Ok(Streamed::Done {
                        parts: plan.parts(),
                        sent: pos.sent,
                        messages: plan.messages(),
                    })
                }
                Pass::Stopped => return Ok(Streamed::Stopped { sent: pos.sent }),
                Pass::Unsendable => return Ok(Streamed::Unsendable { sent: pos.sent }),
                Pass::Replan if round == MAX_PLANS => break,
                Pass::Replan => match self.replan(w, plan, pos, run_id, deadline).await? {
                    Some(again) => plan = again,
                    None => return Ok(Streamed::Stopped { sent: pos.sent }),
                },
            }
        }
        Err(format!(
            "its parts could not be fitted to its messages ({MAX_PLANS} plans in one run)"
        ))
    }

    /// The plan of a surveyed window: its parts, and the latest message's account and
    /// chat.
    fn first_plan(&self, big: &BigWindow, latest: &WindowMessage, sized: &[Sized]) -> BundlePlan {
        let (account, chat) = heading(latest, &big.state);
        BundlePlan {
            lengths: self.lengths(&account, &chat, sized),
            account,
            chat,
        }
    }

    /// Plans the parts not yet queued again, from where the last one queued ended; the
    /// parts queued keep their number. `None` when the deadline came or the claim was lost.
    async fn replan(
        &self,
        w: &PendingWindow,
        mut plan: BundlePlan,
        pos: &Position,
        run_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Option<BundlePlan>, Why> {
        let Some(rest) = self.survey(w, pos.after.clone(), deadline).await? else {
            return Ok(None);
        };
        tracing::warn!(workspace_id = %w.workspace_id, bundle_id = %w.bundle_id(), queued = pos.next, rest = rest.sized.len(), "streamed window planned again");
        plan.lengths.truncate(pos.next);
        let more = self.lengths(&plan.account, &plan.chat, &rest.sized);
        plan.lengths.extend(more);
        self.save_plan(w, run_id, plan).await
    }

    fn lengths(&self, account: &Account, chat: &Chat, sized: &[Sized]) -> Vec<u32> {
        part_lengths(account, chat, sized, &self.permalink_base)
            .into_iter()
            .map(|n| n as u32)
            .collect()
    }

    async fn save_plan(
        &self,
        w: &PendingWindow,
        run_id: &str,
        plan: BundlePlan,
    ) -> Result<Option<BundlePlan>, Why> {
        let saved = self.store.save_stream_plan(w, run_id, &plan).await;
        let held = saved.map_err(|e| format!("its plan could not be saved: {e}"))?;
        Ok(held.then_some(plan))
    }

    /// A pass over the rest of the window: each part queued as soon as its messages are
    /// read, then recorded; on to the end, so a message past the plan is noticed.
    async fn send_parts(
        &self,
        big: &BigWindow,
        plan: &BundlePlan,
        pos: &mut Position,
        run_id: &str,
        deadline: Option<Instant>,
    ) -> Result<Pass, Why> {
        let w = &big.window;
        let mut part = Vec::new();
        // A part of one message: that message's own heading, should the plan's not fit.
        let mut own = None;
        let mut at = pos.after.clone();
        loop {
            if past(deadline) {
                return Ok(Pass::Stopped);
            }
            let page = self.page(w, at.take()).await?;
            for (m, cursor) in page.messages {
                let Some(len) = plan.length(pos.next) else {
                    return Ok(Pass::Replan);
                };
                if len == 1 {
                    let (account, chat) = (m.event.whatsapp_account, m.event.chat);
                    own = Some(heading_at(account, chat, m.received_ms, &big.state));
                }
                part.push(m.event.message);
                if part.len() < len {
                    continue;
                }
                let taken = (pos.next, std::mem::take(&mut part), own.take());
                match self.queue_part(w, plan, taken, run_id, &cursor).await? {
                    Queued::Yes => {}
                    Queued::ClaimLost => return Ok(Pass::Stopped),
                    Queued::TooBig => return Ok(Pass::Replan),
                    Queued::Never => return Ok(Pass::Unsendable),
                }
                (pos.next, pos.sent, pos.after) = (pos.next + 1, pos.sent + 1, Some(cursor));
                if past(deadline) && pos.next < plan.parts() {
                    return Ok(Pass::Stopped);
                }
            }
            match page.next {
                Some(next) => at = Some(next),
                None if pos.next == plan.parts() && part.is_empty() => return Ok(Pass::Finished),
                None => return Ok(Pass::Replan),
            }
        }
    }

    /// Marks part `i` as being queued, queues it and records it, ending at `after`.
    async fn queue_part(
        &self,
        w: &PendingWindow,
        plan: &BundlePlan,
        (i, messages, own): (usize, Vec<Message>, Option<(Account, Chat)>),
        run_id: &str,
        after: &WindowPageCursor,
    ) -> Result<Queued, Why> {
        let total = plan.parts();
        let alone = messages.len() == 1;
        let base = &self.permalink_base;
        let mut bundle = build_part(&plan.account, &plan.chat, messages, (i, total), base);
        // Numbered even when the plan has one part: a later plan may add more.
        (bundle.part, bundle.parts) = (Some(i as u32 + 1), Some(total as u32));
        let bounds = w.bounds().ok_or("its bounds are not instants")?;
        let id = w.bundle_id();
        let mut delivery = envelope(w, bounds, &id, (i, total), plan.messages(), &bundle);
        if let Some(heading) = own.filter(|_| alone && over_queue_limit(&delivery)) {
            let bundle = reheaded(bundle, heading, (i, total), base);
            delivery = envelope(w, bounds, &id, (i, total), plan.messages(), &bundle);
        }
        if over_queue_limit(&delivery) {
            // Alone and still over under its own heading (its digest line cut, its edits
            // checked): no plan changes that.
            return Ok(if alone { Queued::Never } else { Queued::TooBig });
        }
        let marked = self
            .store
            .mark_stream_sending(w, run_id, after)
            .await
            .map_err(|e| format!("part {} could not be marked as sending: {e}", i + 1))?;
        if !marked {
            return Ok(Queued::ClaimLost);
        }
        self.queue
            .send_first(&[delivery])
            .await
            .map_err(|e| format!("the queue refused part {} of its bundle: {e}", i + 1))?;
        let saved = self
            .store
            .save_stream_progress(w, run_id, i as u32 + 1, after)
            .await
            .map_err(|e| format!("its progress could not be saved: {e}"))?;
        Ok(if saved {
            Queued::Yes
        } else {
            Queued::ClaimLost
        })
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
        from: Option<WindowPageCursor>,
        deadline: Option<Instant>,
    ) -> Result<Option<Survey>, Why> {
        let mut survey = Survey::default();
        let mut at = from;
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
