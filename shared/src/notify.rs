//! Emails to workspace owners, through SES.

use crate::domain::{Notice, PortalToken};
use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

/// Sending an email failed.
#[derive(Debug, thiserror::Error)]
#[error("ses SendEmail failed: {0}")]
pub struct NotifyError(String);

/// Sends owner notifications from the configured SES identity.
#[derive(Clone, Debug)]
pub struct OwnerNotifier {
    ses: aws_sdk_sesv2::Client,
    from: String,
    api_base: String,
}

fn content(text: String) -> Result<Content, NotifyError> {
    Content::builder()
        .data(text)
        .charset("UTF-8")
        .build()
        .map_err(|e| NotifyError(e.to_string()))
}

impl OwnerNotifier {
    /// A notifier sending from `from` (a verified SES identity).
    pub fn new(ses: aws_sdk_sesv2::Client, from: impl Into<String>) -> Self {
        Self {
            ses,
            from: from.into(),
            api_base: String::new(),
        }
    }

    /// Links in emails point at the API under `base` (its public URL), not at a bare path.
    pub fn with_api_base(mut self, base: Option<&str>) -> Self {
        self.api_base = base.unwrap_or_default().trim_end_matches('/').to_string();
        self
    }

    /// The portal page a link's token opens, when the public base URL is known.
    pub fn portal_url(&self, token: &PortalToken) -> Option<String> {
        (!self.api_base.is_empty())
            .then(|| format!("{}/portal#token={}", self.api_base, token.reveal()))
    }

    /// Tells the owner their webhook (at `url`, its API `routes`) was switched off, why, and
    /// how to switch it back on: in the portal (`portal`, a link valid for 7 days) or
    /// through the API.
    pub async fn webhook_disabled(
        &self,
        owner: &str,
        workspace_name: &str,
        (url, routes): (&str, &str),
        reason: &str,
        portal: Option<&str>,
    ) -> Result<(), NotifyError> {
        let subject = format!("Outflow: webhook disabled for {workspace_name}");
        let base = &self.api_base;
        let open = portal.map_or(String::new(), |link| {
            format!("Open your webhook settings (this link works for 7 days):\n{link}\n\n")
        });
        let text = format!(
            "Your Outflow webhook for workspace \"{workspace_name}\" was disabled automatically.\n\n\
             URL: {url}\nReason: {reason}\n\n\
             Messages that arrive while it is disabled are kept. Fix the endpoint, then re-enable \
             it; kept messages are delivered then.\n\n{open}\
             Or through the API: POST {base}{routes}/enable\n"
        );
        self.send_text(owner, subject, text).await
    }

    /// Sends the owner a warning or a change notice (`last`: the day's last of its kind).
    pub async fn notice(
        &self,
        owner: &str,
        workspace_name: &str,
        notice: &Notice,
        last: bool,
    ) -> Result<(), NotifyError> {
        let subject = notice.subject(workspace_name);
        let mut text = notice.text(workspace_name, &self.api_base);
        if last {
            text.push('\n');
            text.push_str(&Notice::last_of_day());
        }
        self.send_text(owner, subject, text).await
    }

    /// One plain-text email from the configured identity.
    async fn send_text(&self, to: &str, subject: String, text: String) -> Result<(), NotifyError> {
        let message = Message::builder()
            .subject(content(subject)?)
            .body(Body::builder().text(content(text)?).build())
            .build();
        self.ses
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| NotifyError(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}
