//! What the owner is told besides a disable: a warning while the webhook fails, before it
//! is disabled, and a notice of every change to where deliveries go or who may send or
//! read them (who cannot see a change cannot object to it).

use super::webhook::MAX_CONSECUTIVE_FAILURES;
use super::Timestamp;

/// How long a webhook fails with no success before its owner is warned, once per failure
/// incident (a success, an enable or a save ends the incident). A webhook that reaches
/// the failure limit sooner is disabled first, and its owner gets the disable email.
pub const WARN_AFTER_MS: i64 = 60 * 60 * 1_000;

/// True when a failure incident that began at `since_ms` and was not warned yet is due
/// its warning at `now_ms`.
pub fn warning_due(since_ms: i64, warned: bool, now_ms: i64) -> bool {
    !warned && now_ms - since_ms >= WARN_AFTER_MS
}

/// Change notices a workspace's owner gets at most per UTC day; warnings have a budget of
/// the same size of their own, and disable emails theirs.
pub const NOTICES_PER_DAY: u32 = 10;

/// One email to the owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The webhook keeps failing and will be disabled unless it recovers.
    Failing {
        /// Where deliveries go.
        url: String,
        /// Consecutive failed deliveries so far.
        failures: u32,
        /// Since when it fails (the incident's first failure).
        since: Timestamp,
        /// The last failure, in words.
        last_error: String,
        /// A portal link (valid 7 days), where the public URL is known.
        portal: Option<String>,
        /// The API path of its routes (`/v1/webhooks/outbound` or `/v1/endpoints/<id>`).
        routes: String,
    },
    /// The webhook's URL was changed.
    UrlChanged {
        /// The URL before.
        from: String,
        /// The URL now.
        to: String,
    },
    /// A webhook endpoint was made: deliveries go to one more URL.
    EndpointAdded {
        /// `default`, or `ep_...`.
        endpoint: String,
        /// Where its deliveries go.
        url: String,
    },
    /// An additional endpoint was deleted, with what it held.
    EndpointDeleted {
        /// Its id.
        endpoint: String,
        /// Where its deliveries went.
        url: String,
    },
    /// The webhook's signing secret was rotated.
    SecretRotated,
    /// An API key was rotated (the old one stopped working).
    KeyRotated {
        /// The key's name, where it has one.
        name: Option<String>,
    },
    /// Every API key was replaced by an operator.
    KeysReset {
        /// Keys that stopped working.
        revoked: usize,
    },
    /// A new API key was made.
    KeyCreated {
        /// Its name.
        name: String,
        /// Its scopes, in words.
        scopes: String,
    },
}

impl Notice {
    /// Failures left before the webhook is disabled (it is at the one after the limit).
    pub fn failures_left(failures: u32) -> u32 {
        (MAX_CONSECUTIVE_FAILURES + 1).saturating_sub(failures)
    }

    /// The email's subject.
    pub fn subject(&self, workspace: &str) -> String {
        match self {
            Notice::Failing { .. } => format!("Outflow: your webhook for {workspace} is failing"),
            Notice::UrlChanged { .. } => format!("Outflow: webhook URL changed for {workspace}"),
            Notice::EndpointAdded { .. } => {
                format!("Outflow: webhook endpoint added for {workspace}")
            }
            Notice::EndpointDeleted { .. } => {
                format!("Outflow: webhook endpoint deleted for {workspace}")
            }
            Notice::SecretRotated => format!("Outflow: signing secret rotated for {workspace}"),
            Notice::KeyRotated { .. } => format!("Outflow: API key rotated for {workspace}"),
            Notice::KeysReset { .. } => format!("Outflow: API keys reset for {workspace}"),
            Notice::KeyCreated { .. } => format!("Outflow: new API key for {workspace}"),
        }
    }

    /// True for a warning (its own daily budget), false for a change notice.
    pub fn is_warning(&self) -> bool {
        matches!(self, Notice::Failing { .. })
    }

    /// The line the day's last email of its kind ends with: later ones go to the activity
    /// log only, so a flood of changes cannot hide the ones after it without a trace.
    pub fn last_of_day() -> String {
        format!(
            "This is the last of today's {NOTICES_PER_DAY} emails of this kind for the \
             workspace: further ones today are only in the webhook's activity log.\n"
        )
    }

    /// The email's text; `api_base` is where the API is reached (may be empty).
    pub fn text(&self, workspace: &str, api_base: &str) -> String {
        match self {
            Notice::Failing {
                url,
                failures,
                since,
                last_error,
                portal,
                routes,
            } => {
                let left = Notice::failures_left(*failures);
                let open = portal.as_ref().map_or(String::new(), |link| {
                    format!("Open your webhook settings (this link works for 7 days):\n{link}\n\n")
                });
                format!(
                    "Your Outflow webhook for workspace \"{workspace}\" is failing.\n\n\
                     URL: {url}\nFailing since: {}\nFailed deliveries in a row: {failures}\n\
                     Last error: {last_error}\n\n\
                     After {left} more failures in a row it will be disabled automatically \
                     (deliveries are then kept until it is enabled again). A single success \
                     resets the count.\n\n\
                     How to fix it: make the URL answer 2xx within the timeout; the request \
                     log shows each request and answer.\n\n{open}\
                     Or through the API: GET {api_base}{routes}/log\n",
                    since.rfc3339()
                )
            }
            change => change.change_text(workspace),
        }
    }

    /// A change notice's text: what changed, and what to do if it was not expected.
    fn change_text(&self, workspace: &str) -> String {
        let unexpected = "If you did not expect this change, reset the workspace's API keys \
                          (ask your Outflow operator) and check the webhook's settings.";
        match self {
            Notice::Failing { url, .. } => {
                format!("The webhook for {workspace} ({url}) is failing.\n")
            }
            Notice::UrlChanged { from, to } => format!(
                "The webhook URL of workspace \"{workspace}\" was changed.\n\n\
                 Before: {from}\nNow: {to}\n\nDeliveries go to the new URL from now on.\n\n\
                 {unexpected}\n"
            ),
            Notice::EndpointAdded { endpoint, url } => format!(
                "A webhook endpoint ({endpoint}) was added to workspace \"{workspace}\".\n\n\
                 URL: {url}\n\nThe events it takes (its types and filter) are delivered \
                 there from now on, besides any other endpoint's.\n\n{unexpected}\n"
            ),
            Notice::EndpointDeleted { endpoint, url } => format!(
                "The webhook endpoint {endpoint} of workspace \"{workspace}\" was deleted, \
                 with the deliveries it held.\n\nURL: {url}\n\nNothing is delivered there \
                 any more.\n\n{unexpected}\n"
            ),
            Notice::SecretRotated => format!(
                "The webhook signing secret of workspace \"{workspace}\" was rotated. For 24 \
                 hours deliveries carry signatures of both the new and the previous secret.\n\n\
                 {unexpected}\n"
            ),
            Notice::KeyRotated { name } => format!(
                "An API key of workspace \"{workspace}\"{} was rotated: the old key stopped \
                 working and a new one was issued.\n\n{unexpected}\n",
                name.as_ref()
                    .map_or(String::new(), |n| format!(" (\"{n}\")"))
            ),
            Notice::KeysReset { revoked } => format!(
                "Every API key of workspace \"{workspace}\" was replaced by an operator: \
                 {revoked} {} stopped working and a new one was issued.\n\n{unexpected}\n",
                if *revoked == 1 { "key" } else { "keys" }
            ),
            Notice::KeyCreated { name, scopes } => format!(
                "A new API key \"{name}\" was made for workspace \"{workspace}\", with the \
                 scopes: {scopes}.\n\n{unexpected}\n"
            ),
        }
    }

    /// The activity log's line once it was sent to `owner`.
    pub fn sent_detail(&self, owner: &str) -> String {
        let what = match self {
            Notice::Failing { failures, .. } => format!(
                "warned: {failures} failed deliveries in a row, {} more disable the webhook",
                Notice::failures_left(*failures)
            ),
            Notice::UrlChanged { .. } => "told the webhook URL changed".into(),
            Notice::EndpointAdded { url, .. } => format!("told an endpoint was added ({url})"),
            Notice::EndpointDeleted { url, .. } => format!("told an endpoint was deleted ({url})"),
            Notice::SecretRotated => "told the signing secret was rotated".into(),
            Notice::KeyRotated { .. } => "told an API key was rotated".into(),
            Notice::KeysReset { .. } => "told the API keys were reset".into(),
            Notice::KeyCreated { .. } => "told a new API key was made".into(),
        };
        format!("Owner {owner} {what}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_says_what_fails_since_when_and_how_many_failures_are_left() {
        let notice = Notice::Failing {
            url: "https://crm.example/hook".into(),
            failures: 5,
            since: Timestamp::from_unix_millis(1_780_000_000_000).unwrap(),
            last_error: "(http_status) HTTP 503".into(),
            portal: Some("https://api.example/portal#token=t".into()),
            routes: "/v1/endpoints/ep_x".into(),
        };
        let text = notice.text("Acme", "https://api.example");
        for part in [
            "URL: https://crm.example/hook",
            "Failing since: 2026-05-28T",
            "Failed deliveries in a row: 5",
            "Last error: (http_status) HTTP 503",
            "After 6 more failures in a row it will be disabled",
            "https://api.example/portal#token=t",
            "GET https://api.example/v1/endpoints/ep_x/log",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
        assert!(notice.subject("Acme").contains("failing"));
        assert!(notice.sent_detail("o@x").contains("6 more disable"));
    }

    #[test]
    fn a_warning_is_due_after_an_hour_of_failing_once() {
        let since = 1_000_000;
        assert!(!warning_due(since, false, since + WARN_AFTER_MS - 1));
        assert!(warning_due(since, false, since + WARN_AFTER_MS));
        assert!(!warning_due(since, true, since + 2 * WARN_AFTER_MS));
    }

    #[test]
    fn a_change_notice_names_the_change() {
        let changed = Notice::UrlChanged {
            from: "https://a.example/h".into(),
            to: "https://b.example/h".into(),
        };
        let text = changed.text("Acme", "");
        assert!(text.contains("Before: https://a.example/h\nNow: https://b.example/h"));
        assert!(text.contains("If you did not expect this change"));
        let key = Notice::KeyRotated {
            name: Some("Chatwoot".into()),
        };
        assert!(key.text("Acme", "").contains("(\"Chatwoot\") was rotated"));
        let added = Notice::EndpointAdded {
            endpoint: "ep_1".into(),
            url: "https://c.example/h".into(),
        };
        let text = added.text("Acme", "");
        assert!(text.contains("(ep_1) was added") && text.contains("URL: https://c.example/h"));
        assert!(added.subject("Acme").contains("endpoint added"));
        let deleted = Notice::EndpointDeleted {
            endpoint: "ep_1".into(),
            url: "https://c.example/h".into(),
        };
        assert!(deleted
            .text("Acme", "")
            .contains("ep_1 of workspace \"Acme\" was deleted"));
        assert_eq!(Notice::failures_left(10), 1);
        assert_eq!(Notice::failures_left(12), 0);
    }
}
