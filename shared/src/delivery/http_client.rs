//! The HTTP client for deliveries: no redirects, no proxies, a hard timeout, and a DNS
//! resolver that refuses internal addresses after resolution (SSRF guard at send time).

use crate::url_policy::UrlPolicy;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::sync::Arc;
use std::time::Duration;

/// The HTTP client deliveries go through.
pub type DeliveryClient = reqwest::Client;

struct GuardedResolver {
    policy: UrlPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let addrs = policy
                .resolve(name.as_str(), 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Builds the delivery client (once per container).
pub fn build_client(policy: UrlPolicy, timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Every try is ours to count (failure counter, retry schedule, request log): no
        // hidden protocol-level retries, and no per-request copy of the request for them.
        .retry(reqwest::retry::never().max_retries_per_request(0))
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .user_agent(concat!("Outflow/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("static client configuration is valid")
}
