//! What the HTTP functions share: the error type (mapped to status codes here, once),
//! the credential extractors, size-limited and typed bodies, no-store responses.

pub mod auth;
pub mod body;
pub mod deadline;
pub mod error;
pub mod no_store;

pub use auth::{
    bearer_token, portal_refused, tokens_match, Admin, AdminToken, AnyScope, ManageEndpoints,
    ManageKeys, PresentedKey, ReadLogs, RequiredScope, Tenant, WebhookOwner, INVALID_KEY,
};
pub use body::{JsonBody, LimitedBody};
pub use deadline::{Deadline, ANSWER_MARGIN};
pub use error::{ApiError, ErrorBody};
pub use no_store::NoStore;
