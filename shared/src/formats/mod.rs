//! Wire formats: inbound events (native and Chatwoot/liveDesk) and their limits.

pub mod bundle;
pub mod chatwoot;
mod fast;
pub mod inbound;
pub mod limits;
pub mod native;

pub use fast::parse_events as parse_events_fast;
pub use inbound::{parse_events, parse_events_checked, InboundEvent, InvalidEvent, NewChatRule};
