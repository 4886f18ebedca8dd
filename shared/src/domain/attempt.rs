//! One attempt to deliver: the request sent, what came back, and its outcome — what the
//! detailed request log shows, and what the retry and health rules read.

use super::{ChatId, DeliveryId, RequestId, Timestamp};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Response bodies are kept up to this many bytes in the request log (8 KiB).
pub const RESPONSE_BODY_LIMIT: usize = 8 * 1024;
/// Response headers are kept up to this many...
pub const RESPONSE_HEADERS_LIMIT: usize = 50;
/// ...and this many bytes in all (names and values; a receiver may answer with hundreds
/// of kilobytes of them).
pub const RESPONSE_HEADER_BYTES_LIMIT: usize = 8 * 1024;
/// The most a request-log entry may take as stored (DynamoDB items hold 400 KB): a bigger
/// one keeps a prefix of the body sent, with the body's full size and SHA-256.
pub const MAX_LOG_ENTRY_BYTES: usize = 350 * 1024;

/// Whether an attempt succeeded (a 2xx within the timeout).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// 2xx within the timeout.
    Success,
    /// Anything else.
    Failure,
}

/// Why an attempt failed, in a few words that stay the same from one failure to the next
/// (the request log's `failure_kind`, the activity text, and a metric dimension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The URL, or an address its host resolved to, is not allowed (internal network).
    UrlRefused,
    /// The host name did not resolve.
    Dns,
    /// No connection could be made (refused, unreachable, connect timeout).
    Connect,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// No complete answer within the delivery timeout.
    Timeout,
    /// The connection broke after it was made (reset, closed before or during the answer).
    ConnectionClosed,
    /// The receiver answered with a redirect, which is not followed.
    Redirect,
    /// The receiver answered with a status other than 2xx or 3xx.
    HttpStatus,
    /// The request could not be built (e.g. a header value the HTTP library refuses).
    InvalidRequest,
}

impl FailureKind {
    /// Every kind, for documentation and metric checks.
    pub const ALL: [FailureKind; 9] = [
        FailureKind::UrlRefused,
        FailureKind::Dns,
        FailureKind::Connect,
        FailureKind::Tls,
        FailureKind::Timeout,
        FailureKind::ConnectionClosed,
        FailureKind::Redirect,
        FailureKind::HttpStatus,
        FailureKind::InvalidRequest,
    ];

    /// The kind's name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::UrlRefused => "url_refused",
            FailureKind::Dns => "dns",
            FailureKind::Connect => "connect",
            FailureKind::Tls => "tls",
            FailureKind::Timeout => "timeout",
            FailureKind::ConnectionClosed => "connection_closed",
            FailureKind::Redirect => "redirect",
            FailureKind::HttpStatus => "http_status",
            FailureKind::InvalidRequest => "invalid_request",
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the receiver answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RecordedResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: BTreeMap<String, String>,
    /// Response body, cut at `RESPONSE_BODY_LIMIT` bytes.
    pub body: String,
    /// True when the body was cut.
    pub body_truncated: bool,
    /// True when headers were left out (over `RESPONSE_HEADERS_LIMIT` or
    /// `RESPONSE_HEADER_BYTES_LIMIT`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub headers_truncated: bool,
}

/// One request, as shown in the downloadable log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Attempt {
    /// This request's id.
    pub request_id: RequestId,
    /// The delivery it carried (`webhook-id`).
    pub delivery_id: DeliveryId,
    /// The chat the delivery belongs to (keeps a resend in the chat's order).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<ChatId>,
    /// When it was sent.
    pub time: Timestamp,
    /// Success or failure.
    pub outcome: Outcome,
    /// Where it went.
    pub url: String,
    /// Headers sent (signatures, never the secret).
    pub request_headers: BTreeMap<String, String>,
    /// Body sent.
    pub request_body: String,
    /// What came back, if anything did.
    pub response: Option<RecordedResponse>,
    /// Milliseconds from send to the end of the response (or the failure).
    pub latency_ms: u64,
    /// Why it failed, if it did, in words.
    pub error: Option<String>,
    /// Why it failed, if it did, as a kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_kind: Option<FailureKind>,
    /// When only a prefix of the body sent is kept: the body's full size and SHA-256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_body_cut: Option<CutBody>,
}

/// What the log keeps of a body too big to keep whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CutBody {
    /// The whole body's size in bytes.
    pub bytes: usize,
    /// The whole body's SHA-256, hex.
    pub sha256: String,
}

impl Attempt {
    /// True for a 2xx within the timeout.
    pub fn succeeded(&self) -> bool {
        self.outcome == Outcome::Success
    }

    /// Marks the attempt failed, with why.
    pub fn fail(&mut self, kind: FailureKind, error: impl Into<String>) {
        self.outcome = Outcome::Failure;
        self.failure_kind = Some(kind);
        self.error = Some(error.into());
    }

    /// The receiver answered 410 Gone: it asks for no more deliveries.
    pub fn gone(&self) -> bool {
        !self.succeeded() && self.response.as_ref().is_some_and(|r| r.status == 410)
    }

    /// The pause a 429 or 503 asks for with `Retry-After` (delta-seconds only).
    pub fn retry_after(&self) -> Option<Duration> {
        let response = self
            .response
            .as_ref()
            .filter(|r| matches!(r.status, 429 | 503))?;
        parse_retry_after(response.headers.get("retry-after")?)
    }

    /// When the attempt ended (sent, plus its latency), which orders a batch's outcomes.
    pub fn ended_ms(&self) -> i64 {
        self.time.millis() + self.latency_ms as i64
    }

    /// Bytes this entry takes as JSON.
    pub fn json_bytes(&self) -> usize {
        json_len(self)
    }

    /// The attempt as the log keeps it: whole, or, when its entry would take more than
    /// `max_bytes`, with a prefix of the body sent (the body's size and SHA-256 noted).
    pub fn capped(mut self, max_bytes: usize) -> Self {
        let size = json_len(&self);
        if size <= max_bytes {
            return self;
        }
        let body = std::mem::take(&mut self.request_body);
        self.request_body_cut = Some(CutBody {
            bytes: body.len(),
            sha256: hex::encode(sha2::Sha256::digest(body.as_bytes())),
        });
        // Room for the body: the limit less everything else the entry holds.
        let room = max_bytes.saturating_sub(json_len(&self));
        let fits = |end: usize| json_len(&body[..end]) <= room;
        // The longest prefix that fits, ending on a character boundary.
        let (mut low, mut high) = (0, body.len());
        while low < high {
            let mid = (low + high).div_ceil(2);
            let end = (0..=mid)
                .rev()
                .find(|&i| body.is_char_boundary(i))
                .unwrap_or(0);
            if end > low && fits(end) {
                low = end;
            } else {
                high = mid - 1;
            }
        }
        self.request_body = body[..low].to_string();
        self
    }

    /// The failure in words for people: kind and error.
    pub fn failure_text(&self) -> String {
        match (self.failure_kind, &self.error) {
            (Some(kind), Some(error)) => format!("({kind}) {error}"),
            (None, Some(error)) => error.clone(),
            (Some(kind), None) => kind.to_string(),
            (None, None) => String::new(),
        }
    }
}

/// Bytes `value` takes as JSON (the empty string's two quotes included).
fn json_len<T: Serialize + ?Sized>(value: &T) -> usize {
    serde_json::to_string(value).map_or(usize::MAX, |json| json.len())
}

/// Reads a `Retry-After` header: delta-seconds (the HTTP-date form is not honoured).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, retry_after: Option<&str>) -> Attempt {
        let mut headers = BTreeMap::new();
        if let Some(v) = retry_after {
            headers.insert("retry-after".to_string(), v.to_string());
        }
        let mut attempt = Attempt {
            request_id: RequestId::new_unchecked("req_1"),
            delivery_id: DeliveryId::new_unchecked("msg_1"),
            chat_id: None,
            time: Timestamp::from_unix(10).unwrap(),
            outcome: Outcome::Success,
            url: "https://r.example/".into(),
            request_headers: BTreeMap::new(),
            request_body: "{}".into(),
            response: Some(RecordedResponse {
                status,
                headers,
                body: String::new(),
                body_truncated: false,
                headers_truncated: false,
            }),
            latency_ms: 250,
            error: None,
            failure_kind: None,
            request_body_cut: None,
        };
        if status >= 300 {
            attempt.fail(FailureKind::HttpStatus, format!("HTTP {status}"));
        }
        attempt
    }

    #[test]
    fn retry_after_counts_only_on_429_and_503() {
        let cases = [
            (429, Some("30"), Some(Duration::from_secs(30))),
            (503, Some(" 5 "), Some(Duration::from_secs(5))),
            (503, Some("Wed, 21 Oct 2026 07:28:00 GMT"), None),
            (500, Some("30"), None),
            (429, None, None),
        ];
        for (status, header, expected) in cases {
            assert_eq!(answered(status, header).retry_after(), expected, "{status}");
        }
    }

    #[test]
    fn only_a_failed_410_is_gone() {
        assert!(answered(410, None).gone());
        assert!(!answered(404, None).gone());
        assert!(!answered(200, None).gone());
    }

    #[test]
    fn the_log_names_outcome_and_kind() {
        let failed = answered(503, None);
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["outcome"], "failure");
        assert_eq!(json["failure_kind"], "http_status");
        assert_eq!(failed.failure_text(), "(http_status) HTTP 503");
        assert_eq!(failed.ended_ms(), 10_250);
        let ok = serde_json::to_value(answered(200, None)).unwrap();
        assert_eq!(ok["outcome"], "success");
        assert!(ok.get("failure_kind").is_none());
        for kind in FailureKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
    }

    #[test]
    fn a_log_entry_too_big_keeps_a_prefix_of_the_body_with_its_size_and_digest() {
        let small = answered(200, None);
        assert_eq!(small.clone().capped(MAX_LOG_ENTRY_BYTES), small);
        let mut big = answered(200, None);
        // Control characters: each takes 6 bytes in the body, 7 in the entry.
        big.request_body = "\u{1}".repeat(100_000);
        let body = big.request_body.clone();
        let capped = big.capped(MAX_LOG_ENTRY_BYTES);
        let entry = serde_json::to_string(&capped).unwrap();
        assert!(entry.len() <= MAX_LOG_ENTRY_BYTES, "{}", entry.len());
        assert!(body.starts_with(&capped.request_body));
        assert!(capped.request_body.len() > 40_000, "keeps what fits");
        let cut = capped.request_body_cut.unwrap();
        assert_eq!(cut.bytes, body.len());
        assert_eq!(
            cut.sha256,
            hex::encode(sha2::Sha256::digest(body.as_bytes()))
        );
    }
}

/// Requests of one hour, as the portal's chart shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct HourCount {
    /// The hour's start.
    pub hour: Timestamp,
    /// Requests the receiver answered 2xx.
    pub succeeded: u32,
    /// Requests that failed.
    pub failed: u32,
}
