//! Wire formats: inbound events (native and Chatwoot/liveDesk) with their limits, and the
//! outbound bundle. `parse` dispatches to the parsers; the parsers share `event` (what
//! they produce), `source` (what they read), `invalid` and `validate`.

mod bounded;
pub mod bundle;
mod chatwoot;
pub mod escaped;
pub mod event;
mod fast;
pub mod invalid;
pub mod limits;
mod native;
pub mod parse;
mod source;
pub mod tree_budget;
pub mod validate;

pub use event::{InboundEvent, NewChatRule, ParseContext, ToldChat};
pub use fast::parse_events as parse_events_fast;
pub use invalid::InvalidEvent;
pub use parse::{parse_events, parse_events_checked};
