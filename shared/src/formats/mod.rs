//! Wire formats: inbound events (native and Chatwoot/liveDesk) and their limits.

pub mod bundle;
pub mod chatwoot;
pub mod inbound;
pub mod limits;
pub mod native;

pub use inbound::{parse_events, InboundEvent, InvalidEvent, NewChatRule};
