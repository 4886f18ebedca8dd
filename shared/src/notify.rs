//! Emails to workspace owners, through SES.

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

    /// Tells the owner their webhook was switched off, why, and how to switch it back on.
    pub async fn webhook_disabled(
        &self,
        owner: &str,
        workspace_name: &str,
        url: &str,
        reason: &str,
    ) -> Result<(), NotifyError> {
        let subject = format!("Outflow: webhook disabled for {workspace_name}");
        let base = &self.api_base;
        let text = format!(
            "Your Outflow webhook for workspace \"{workspace_name}\" was disabled automatically.\n\n\
             URL: {url}\nReason: {reason}\n\n\
             Messages that arrive while it is disabled are kept. Fix the endpoint, then re-enable \
             it with POST {base}/v1/webhooks/outbound/enable; kept messages are delivered then.\n"
        );
        let message = Message::builder()
            .subject(content(subject)?)
            .body(Body::builder().text(content(text)?).build())
            .build();
        self.ses
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(owner).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| NotifyError(DisplayErrorContext(&e).to_string()))?;
        Ok(())
    }
}
