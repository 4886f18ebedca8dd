//! Creates the table, the delivery queue with its DLQ and redrive policy, and the SES
//! sender identity, as template.yaml declares them.

use aws_sdk_sqs::types::QueueAttributeName;
use outflow::clients::AwsClients;
use outflow::config::{
    Config, DEFAULT_EDITS_AFTER_WAIT, DEFAULT_INGEST_REQUESTS_PER_SECOND, DEFAULT_MAX_ENDPOINTS,
    DEFAULT_RELEASE_PAGES_PER_STEP,
};
use outflow::delivery::RetryPolicy;
use outflow::domain::RateLimit;
use outflow::queue::spec;
use outflow::url_policy::UrlPolicy;
use std::collections::HashMap;
use std::time::Duration;

/// Names of the local resources.
#[derive(Debug, Clone)]
pub struct StackNames {
    /// DynamoDB table.
    pub table: String,
    /// Delivery queue.
    pub queue: String,
    /// Its dead-letter queue.
    pub dead_letter_queue: String,
    /// Verified SES sender.
    pub sender_email: String,
    /// Visibility timeout of the delivery queue (template value unless overridden).
    pub visibility_timeout_secs: u32,
}

/// What was created.
#[derive(Debug, Clone)]
pub struct Stack {
    /// The table name.
    pub table: String,
    /// The delivery queue URL.
    pub queue_url: String,
    /// The delivery queue ARN.
    pub queue_arn: String,
    /// The DLQ URL.
    pub dead_letter_queue_url: String,
}

impl Stack {
    /// The configuration of functions running in-process against this stack: the
    /// template's defaults, loopback webhook targets allowed (callers change what differs).
    pub fn config(&self, sender_email: &str, admin_token: &str) -> Config {
        Config {
            table_name: self.table.clone(),
            queue_url: self.queue_url.clone(),
            dead_letter_queue_url: Some(self.dead_letter_queue_url.clone()),
            sender_email: sender_email.to_string(),
            url_policy: UrlPolicy {
                allow_loopback: true,
            },
            delivery_timeout: Duration::from_secs(10),
            chat_url_base: "https://app.chatwoot.com".into(),
            permalink_base: "https://app.chatwoot.com/permalink".into(),
            retry: RetryPolicy::standard(),
            ingest_rate: RateLimit {
                requests: DEFAULT_INGEST_REQUESTS_PER_SECOND,
                window_secs: 1,
            },
            public_base_url: None,
            admin_token: Some(admin_token.to_string()),
            release_pages_per_step: DEFAULT_RELEASE_PAGES_PER_STEP,
            sender_share: Default::default(),
            portal_frame_ancestors: Vec::new(),
            max_endpoints: DEFAULT_MAX_ENDPOINTS,
            edits_after_wait: DEFAULT_EDITS_AFTER_WAIT,
        }
    }

    /// The environment a function binary of this stack runs with (beside the inherited
    /// AWS endpoint and credentials), as the template sets it, for local runs.
    pub fn function_env(&self, stack_name: &str, admin_token: &str) -> Vec<(String, String)> {
        [
            ("OUTFLOW_STACK", stack_name),
            ("OUTFLOW_TABLE", &self.table),
            ("OUTFLOW_QUEUE_URL", &self.queue_url),
            ("OUTFLOW_DEAD_LETTER_QUEUE_URL", &self.dead_letter_queue_url),
            ("OUTFLOW_SENDER_EMAIL", "outflow@example.com"),
            ("OUTFLOW_ADMIN_TOKEN", admin_token),
            ("OUTFLOW_ALLOW_LOOPBACK_TARGETS", "1"),
            ("OUTFLOW_INGEST_REQUESTS_PER_SECOND", "1000000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

/// Bootstrapping failed.
#[derive(Debug, thiserror::Error)]
#[error("local stack setup failed at {step}: {detail}")]
pub struct StackError {
    step: &'static str,
    detail: String,
}

fn err(step: &'static str) -> impl FnOnce(String) -> StackError {
    move |detail| StackError { step, detail }
}

/// Creates whatever is missing (idempotent).
pub async fn ensure(aws: &AwsClients, names: &StackNames) -> Result<Stack, StackError> {
    crate::table::ensure_table(&aws.dynamo, &names.table)
        .await
        .map_err(err("table"))?;
    let dlq_url = create_queue(
        aws,
        &names.dead_letter_queue,
        HashMap::from([(
            QueueAttributeName::MessageRetentionPeriod,
            spec::DLQ_RETENTION_SECS.to_string(),
        )]),
    )
    .await?;
    let dlq_arn = queue_arn(aws, &dlq_url).await?;
    let queue_url = create_queue(
        aws,
        &names.queue,
        delivery_queue_attributes(names, &dlq_arn),
    )
    .await?;
    ensure_sender_identity(aws, &names.sender_email).await?;
    let queue_arn = queue_arn(aws, &queue_url).await?;
    Ok(Stack {
        table: names.table.clone(),
        queue_url,
        queue_arn,
        dead_letter_queue_url: dlq_url,
    })
}

/// The delivery queue's attributes, as the template sets them, redriving into `dlq_arn`.
fn delivery_queue_attributes(
    names: &StackNames,
    dlq_arn: &str,
) -> HashMap<QueueAttributeName, String> {
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": spec::MAX_RECEIVE_COUNT.to_string(),
    });
    HashMap::from([
        (
            QueueAttributeName::VisibilityTimeout,
            names.visibility_timeout_secs.to_string(),
        ),
        (
            QueueAttributeName::MessageRetentionPeriod,
            spec::RETENTION_SECS.to_string(),
        ),
        (QueueAttributeName::RedrivePolicy, redrive.to_string()),
        (
            QueueAttributeName::DeduplicationScope,
            spec::DEDUPLICATION_SCOPE.to_string(),
        ),
        (
            QueueAttributeName::FifoThroughputLimit,
            spec::FIFO_THROUGHPUT_LIMIT.to_string(),
        ),
    ])
}

/// The verified SES identity owner emails are sent from.
async fn ensure_sender_identity(aws: &AwsClients, email: &str) -> Result<(), StackError> {
    let Err(e) = aws
        .ses
        .create_email_identity()
        .email_identity(email)
        .send()
        .await
    else {
        return Ok(());
    };
    if e.as_service_error()
        .is_some_and(|se| se.is_already_exists_exception())
    {
        return Ok(());
    }
    Err(err("ses identity")(
        aws_sdk_sesv2::error::DisplayErrorContext(&e).to_string(),
    ))
}

async fn create_queue(
    aws: &AwsClients,
    name: &str,
    mut attributes: HashMap<QueueAttributeName, String>,
) -> Result<String, StackError> {
    attributes.insert(QueueAttributeName::FifoQueue, spec::FIFO.to_string());
    let out = aws
        .sqs
        .create_queue()
        .queue_name(fifo_name(name))
        .set_attributes(Some(attributes))
        .send()
        .await
        .map_err(|e| err("queue")(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?;
    out.queue_url
        .ok_or_else(|| err("queue")("no QueueUrl returned".into()))
}

/// FIFO queue names must end in `.fifo`; callers may give the base name.
fn fifo_name(name: &str) -> String {
    if name.ends_with(".fifo") {
        name.to_string()
    } else {
        format!("{name}.fifo")
    }
}

async fn queue_arn(aws: &AwsClients, url: &str) -> Result<String, StackError> {
    aws.sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| err("queue arn")(aws_sdk_sqs::error::DisplayErrorContext(&e).to_string()))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .ok_or_else(|| err("queue arn")("no QueueArn".into()))
}
