//! What the HTTP functions share: the error type (mapped to status codes here, once),
//! bearer authentication and size-limited bodies.

pub mod auth;
pub mod body;
pub mod error;

pub use auth::{bearer_token, presented_key, require_workspace, tokens_match, INVALID_KEY};
pub use body::LimitedBody;
pub use error::ApiError;
