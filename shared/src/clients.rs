//! AWS clients, built once per Lambda container and passed to the handlers.

/// The AWS clients Outflow uses.
#[derive(Clone, Debug)]
pub struct AwsClients {
    /// DynamoDB.
    pub dynamo: aws_sdk_dynamodb::Client,
    /// SQS.
    pub sqs: aws_sdk_sqs::Client,
    /// SES v2.
    pub ses: aws_sdk_sesv2::Client,
}

impl AwsClients {
    /// Loads the standard configuration chain (`AWS_ENDPOINT_URL` points it at an emulator).
    pub async fn from_env() -> Self {
        let shared = aws_config::load_from_env().await;
        Self::from_config(&shared)
    }

    /// Builds the clients from one loaded configuration.
    pub fn from_config(shared: &aws_config::SdkConfig) -> Self {
        Self {
            dynamo: aws_sdk_dynamodb::Client::new(shared),
            sqs: aws_sdk_sqs::Client::new(shared),
            ses: aws_sdk_sesv2::Client::new(shared),
        }
    }
}
