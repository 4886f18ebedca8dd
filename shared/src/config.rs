//! Settings every function reads from its environment (set by template.yaml or the local runner).

use crate::delivery::{RetryPolicy, SenderShare};
use crate::domain::RateLimit;
use crate::url_policy::UrlPolicy;
use std::time::Duration;

/// Runtime configuration shared by the functions.
#[derive(Debug, Clone)]
pub struct Config {
    /// The DynamoDB table.
    pub table_name: String,
    /// The delivery queue URL.
    pub queue_url: String,
    /// The dead-letter queue URL (the sender moves exhausted deliveries there).
    pub dead_letter_queue_url: Option<String>,
    /// The verified SES identity owner emails come from.
    pub sender_email: String,
    /// Which webhook destinations are allowed.
    pub url_policy: UrlPolicy,
    /// Limit for one delivery request (the seed: a 2xx within the timeout;
    /// `OUTFLOW_DELIVERY_TIMEOUT_SECS`, 10 by default).
    pub delivery_timeout: Duration,
    /// Base of Chatwoot/liveDesk conversation links in `chat_url`.
    pub chat_url_base: String,
    /// Base of the permalink closing each bundle's `aggregation` digest.
    pub permalink_base: String,
    /// When failed deliveries are tried again.
    pub retry: RetryPolicy,
    /// Ingest requests a workspace may make per second.
    pub ingest_rate: RateLimit,
    /// Where tenants reach the API, for links in owner emails (`OUTFLOW_PUBLIC_BASE_URL`).
    pub public_base_url: Option<String>,
    /// The token of admin routes (`OUTFLOW_ADMIN_TOKEN`; the api function needs it).
    pub admin_token: Option<String>,
    /// Pages of 100 kept deliveries one sender invocation re-queues for a release before
    /// it hands the rest to a continuation (`OUTFLOW_RELEASE_PAGES_PER_STEP`, 50).
    pub release_pages_per_step: u32,
    /// Sender invocations a slow workspace may hold at once (`OUTFLOW_SENDER_SHARE`, 10)
    /// and what counts as slow (`OUTFLOW_SLOW_RECEIVER_MS`, 2,000).
    pub sender_share: SenderShare,
    /// Origins allowed to embed the tenant portal in a frame
    /// (`OUTFLOW_PORTAL_FRAME_ANCESTORS`, space-separated; none by default).
    pub portal_frame_ancestors: Vec<String>,
    /// Endpoints a workspace may have, its default included (`OUTFLOW_MAX_ENDPOINTS`, 10;
    /// at least 1).
    pub max_endpoints: usize,
    /// How long a delivery waits in the queue before the sender reads the edits of its
    /// message (`OUTFLOW_EDITS_AFTER_WAIT_SECS`, 30): one waiting behind its chat's
    /// failing delivery, or in a backlog, may carry an old text.
    pub edits_after_wait: Duration,
}

/// Default wait in the queue after which the sender reads a delivery's edits.
pub const DEFAULT_EDITS_AFTER_WAIT: Duration = Duration::from_secs(30);

/// Default endpoints per workspace (TimelinesAI's webhooks allow 10 too).
pub const DEFAULT_MAX_ENDPOINTS: usize = 10;

/// Default pages of a release step: 5,000 deliveries, well inside one invocation.
pub const DEFAULT_RELEASE_PAGES_PER_STEP: u32 = 50;

/// Default ingest rate per workspace: 50 requests (up to 5,000 events) per second.
pub const DEFAULT_INGEST_REQUESTS_PER_SECOND: u32 = 50;

/// A required variable is missing or not a valid value.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} must be set to a valid value")]
pub struct MissingVar(pub &'static str);

impl Config {
    /// The dead-letter queue, which the sender cannot run without.
    pub fn dead_letter_queue_url(&self) -> Result<&str, MissingVar> {
        self.dead_letter_queue_url
            .as_deref()
            .ok_or(MissingVar("OUTFLOW_DEAD_LETTER_QUEUE_URL"))
    }

    /// The admin token, which the api cannot run without.
    pub fn admin_token(&self) -> Result<&str, MissingVar> {
        self.admin_token
            .as_deref()
            .ok_or(MissingVar("OUTFLOW_ADMIN_TOKEN"))
    }
}

fn required(name: &'static str) -> Result<String, MissingVar> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(MissingVar(name))
}

/// An optional number, `default` when unset.
fn number<T: std::str::FromStr>(name: &'static str, default: T) -> Result<T, MissingVar> {
    match std::env::var(name) {
        Ok(v) => v.parse().map_err(|_| MissingVar(name)),
        Err(_) => Ok(default),
    }
}

/// `OUTFLOW_DELIVERY_TIMEOUT_SECS`: 1 to 20 s, so a request always fits the sender's 30 s
/// invocation with its bookkeeping.
fn delivery_timeout() -> Result<Duration, MissingVar> {
    let secs = number("OUTFLOW_DELIVERY_TIMEOUT_SECS", 10)?;
    (1..=20)
        .contains(&secs)
        .then(|| Duration::from_secs(secs))
        .ok_or(MissingVar("OUTFLOW_DELIVERY_TIMEOUT_SECS"))
}

/// Whether a configured frame ancestor is one plain origin: `https://` (or `http://` for
/// loopback), a host of ASCII letters, digits, dots and hyphens, an optional port; never a
/// wildcard or anything that could end the CSP directive and add another.
fn frame_origin(origin: &str) -> bool {
    let host = match origin.split_once("://") {
        Some(("https", rest)) => rest,
        Some(("http", rest)) if rest.starts_with("127.0.0.1") || rest.starts_with("localhost") => {
            rest
        }
        _ => return false,
    };
    let host = host.strip_suffix('/').unwrap_or(host);
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
}

/// `OUTFLOW_SENDER_SHARE` (at least 1) and `OUTFLOW_SLOW_RECEIVER_MS`.
fn sender_share() -> Result<SenderShare, MissingVar> {
    let defaults = SenderShare::default();
    let invocations = number("OUTFLOW_SENDER_SHARE", defaults.invocations)?;
    let slow_ms = number(
        "OUTFLOW_SLOW_RECEIVER_MS",
        defaults.slow_after.as_millis() as u64,
    )?;
    if invocations == 0 {
        return Err(MissingVar("OUTFLOW_SENDER_SHARE"));
    }
    Ok(SenderShare {
        invocations,
        slow_after: Duration::from_millis(slow_ms),
        ..defaults
    })
}

impl Config {
    /// Reads `OUTFLOW_TABLE`, `OUTFLOW_QUEUE_URL`, `OUTFLOW_SENDER_EMAIL` and the optional rest
    /// (the sender also needs `OUTFLOW_DEAD_LETTER_QUEUE_URL`, the api `OUTFLOW_ADMIN_TOKEN`).
    pub fn from_env() -> Result<Self, MissingVar> {
        Ok(Self {
            table_name: required("OUTFLOW_TABLE")?,
            queue_url: required("OUTFLOW_QUEUE_URL")?,
            dead_letter_queue_url: required("OUTFLOW_DEAD_LETTER_QUEUE_URL").ok(),
            sender_email: required("OUTFLOW_SENDER_EMAIL")?,
            url_policy: UrlPolicy {
                allow_loopback: std::env::var("OUTFLOW_ALLOW_LOOPBACK_TARGETS").as_deref()
                    == Ok("1"),
            },
            delivery_timeout: delivery_timeout()?,
            chat_url_base: std::env::var("OUTFLOW_CHAT_URL_BASE")
                .unwrap_or_else(|_| "https://app.chatwoot.com".into()),
            permalink_base: std::env::var("OUTFLOW_PERMALINK_BASE")
                .unwrap_or_else(|_| "https://app.chatwoot.com/permalink".into()),
            retry: RetryPolicy::standard(),
            ingest_rate: RateLimit {
                requests: number(
                    "OUTFLOW_INGEST_REQUESTS_PER_SECOND",
                    DEFAULT_INGEST_REQUESTS_PER_SECOND,
                )?,
                window_secs: 1,
            },
            public_base_url: required("OUTFLOW_PUBLIC_BASE_URL").ok(),
            admin_token: required("OUTFLOW_ADMIN_TOKEN").ok(),
            release_pages_per_step: number(
                "OUTFLOW_RELEASE_PAGES_PER_STEP",
                DEFAULT_RELEASE_PAGES_PER_STEP,
            )?
            .max(1),
            sender_share: sender_share()?,
            portal_frame_ancestors: std::env::var("OUTFLOW_PORTAL_FRAME_ANCESTORS")
                .unwrap_or_default()
                .split_whitespace()
                .filter(|o| frame_origin(o))
                .map(String::from)
                .collect(),
            max_endpoints: number("OUTFLOW_MAX_ENDPOINTS", DEFAULT_MAX_ENDPOINTS)?.max(1),
            edits_after_wait: Duration::from_secs(number(
                "OUTFLOW_EDITS_AFTER_WAIT_SECS",
                DEFAULT_EDITS_AFTER_WAIT.as_secs(),
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_ancestors_are_plain_origins() {
        assert!(frame_origin("https://app.example.com"));
        assert!(frame_origin("https://app.example.com:8443"));
        assert!(frame_origin("http://127.0.0.1:5000"));
        assert!(
            !frame_origin("http://app.example.com"),
            "plain http only on loopback"
        );
        assert!(!frame_origin("https://*"));
        assert!(!frame_origin("https://*.example.com"));
        assert!(!frame_origin("https://a.example;script-src"));
        assert!(!frame_origin("https://bücher.example"));
        assert!(!frame_origin("'self'"));
    }
}
