//! The aggregation windows this container has seen open, so a request filing more
//! messages into them skips the existence read. An entry is trusted only while the
//! window has not ended (it cannot be flushed before: its due time is end + 60 s) and
//! only under the settings version it was seen with: the one way a window is flushed
//! early, a switch to immediate delivery, is a settings change.

use outflow::domain::PendingWindow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Windows remembered per container; past this, ended ones are dropped, then all.
const CAPACITY: usize = 50_000;

/// Open windows: the settings version each was seen under.
#[derive(Debug, Clone, Default)]
pub struct OpenWindows(Arc<Mutex<HashMap<PendingWindow, u64>>>);

impl OpenWindows {
    /// True when `window` is known open under `version` at `now_ms`.
    pub fn contains(&self, window: &PendingWindow, version: u64, now_ms: i64) -> bool {
        let Ok(seen) = self.0.lock() else {
            return false;
        };
        seen.get(window)
            .is_some_and(|&v| v == version && !window.has_ended(now_ms))
    }

    /// Remembers windows found or made open under `version`.
    pub fn remember<'a>(
        &self,
        windows: impl IntoIterator<Item = &'a PendingWindow>,
        version: u64,
        now_ms: i64,
    ) {
        let Ok(mut seen) = self.0.lock() else {
            return;
        };
        for w in windows {
            if seen.len() >= CAPACITY {
                seen.retain(|w, _| !w.has_ended(now_ms));
                if seen.len() >= CAPACITY {
                    seen.clear();
                }
            }
            seen.insert(w.clone(), version);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use outflow::domain::{Aggregation, ChatId, Timestamp, Window, WorkspaceId};

    fn window(chat: &str, at: &str) -> PendingWindow {
        let ws = WorkspaceId::new_unchecked("ws_a");
        let at = Timestamp::parse(at).unwrap();
        let w = Window::containing(at, Aggregation::Hours1).unwrap();
        PendingWindow::new(&ws, &ChatId::new_unchecked(chat), Aggregation::Hours1, w)
    }

    #[test]
    fn trusted_only_under_the_same_settings_and_before_the_end() {
        let open = OpenWindows::default();
        let w = window("c1", "2026-03-01T10:05:00Z");
        let before_end = w.end_ms - 1;
        assert!(!open.contains(&w, 3, before_end));
        open.remember([&w], 3, w.start_ms);
        assert!(open.contains(&w, 3, before_end));
        assert!(!open.contains(&w, 4, before_end), "settings changed since");
        assert!(!open.contains(&w, 3, w.end_ms), "the window has ended");
        assert!(!open.contains(&window("c2", "2026-03-01T10:05:00Z"), 3, before_end));
    }

    #[test]
    fn memory_is_bounded_and_drops_ended_windows_first() {
        let open = OpenWindows::default();
        let old = window("old", "2026-03-01T08:05:00Z");
        open.remember([&old], 1, old.start_ms);
        let current: Vec<PendingWindow> = (0..CAPACITY)
            .map(|i| window(&format!("c{i}"), "2026-03-01T10:05:00Z"))
            .collect();
        let now = current[0].start_ms;
        open.remember(&current, 1, now);
        assert_eq!(open.0.lock().unwrap().len(), CAPACITY);
        assert!(!open.contains(&old, 1, now));
        assert!(open.contains(&current[CAPACITY - 1], 1, now));
    }
}
