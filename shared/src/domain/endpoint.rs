//! A workspace's endpoints. The default endpoint is the workspace's webhook itself (what
//! `/v1/webhooks/outbound` addresses); every other one is a **delivery scope** of its own,
//! named `<workspace>.<endpoint>` where a workspace id names the default's: its settings,
//! secrets, health, request log, activity, counters, held deliveries and dead letters live
//! under that name exactly as the default's live under the workspace's, so the sender, the
//! release, replay, resend and test events serve every endpoint with the same code.

use super::ids::random_token;
use super::{EndpointId, Webhook, WorkspaceId};

/// The id the default endpoint is listed and addressed under.
pub const DEFAULT_ENDPOINT: &str = "default";

/// What separates a workspace from its endpoint in a delivery scope's name (never in a
/// workspace id, so a scope can never name another tenant).
const SCOPE_SEPARATOR: char = '.';

impl EndpointId {
    /// A fresh endpoint id (`ep_` + 22 characters, ~113 bits).
    pub fn generate() -> Self {
        Self::new_unchecked(format!("ep_{}", random_token(22)))
    }

    /// The default endpoint's id.
    pub fn default_endpoint() -> Self {
        Self::new_unchecked(DEFAULT_ENDPOINT)
    }

    /// Accepts `default` and the shape `generate` makes, nothing else (it goes into keys).
    pub fn parse(value: &str) -> Option<Self> {
        if value == DEFAULT_ENDPOINT {
            return Some(Self::default_endpoint());
        }
        let rest = value.strip_prefix("ep_")?;
        (rest.len() == 22
            && rest
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        .then(|| Self::new_unchecked(value))
    }

    /// True for the default endpoint.
    pub fn is_default(&self) -> bool {
        self.as_str() == DEFAULT_ENDPOINT
    }
}

impl WorkspaceId {
    /// The delivery scope of one of this workspace's endpoints (the workspace itself for
    /// the default).
    pub fn endpoint_scope(&self, endpoint: &EndpointId) -> WorkspaceId {
        if endpoint.is_default() {
            return self.clone();
        }
        WorkspaceId::new_unchecked(format!("{self}{SCOPE_SEPARATOR}{endpoint}"))
    }

    /// The tenant a delivery scope belongs to (a workspace id: itself).
    pub fn tenant(&self) -> WorkspaceId {
        match self.as_str().split_once(SCOPE_SEPARATOR) {
            Some((tenant, _)) => WorkspaceId::new_unchecked(tenant),
            None => self.clone(),
        }
    }

    /// The endpoint a delivery scope delivers to (`default` for a workspace id).
    pub fn endpoint(&self) -> EndpointId {
        match self.as_str().split_once(SCOPE_SEPARATOR) {
            Some((_, endpoint)) => EndpointId::new_unchecked(endpoint),
            None => EndpointId::default_endpoint(),
        }
    }

    /// The API path of this scope's webhook routes: `/v1/webhooks/outbound` for the
    /// default, `/v1/endpoints/<endpoint>` for another (owner emails point there).
    pub fn routes(&self) -> String {
        match self.is_endpoint_scope() {
            true => format!("/v1/endpoints/{}", self.endpoint()),
            false => "/v1/webhooks/outbound".to_string(),
        }
    }

    /// True when this names an additional endpoint's scope, not a workspace.
    pub fn is_endpoint_scope(&self) -> bool {
        self.as_str().contains(SCOPE_SEPARATOR)
    }
}

/// An additional endpoint as ingest routes to it: its scope and its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Where its deliveries and items live (`<workspace>.<endpoint>`).
    pub scope: WorkspaceId,
    /// Its settings, secrets and health.
    pub webhook: Webhook,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scope_leads_back_to_its_tenant_and_endpoint() {
        let ws = WorkspaceId::generate();
        let ep = EndpointId::generate();
        let scope = ws.endpoint_scope(&ep);
        assert_ne!(scope, ws);
        assert!(scope.is_endpoint_scope() && !ws.is_endpoint_scope());
        assert_eq!(scope.tenant(), ws);
        assert_eq!(scope.endpoint(), ep);
        assert_eq!(ws.tenant(), ws);
        assert!(ws.endpoint().is_default());
        assert_eq!(ws.endpoint_scope(&EndpointId::default_endpoint()), ws);
        // A scope is never a workspace id another tenant could hold.
        assert_eq!(WorkspaceId::parse(scope.as_str()), None);
        assert_eq!(ws.routes(), "/v1/webhooks/outbound");
        assert_eq!(scope.routes(), format!("/v1/endpoints/{ep}"));
    }

    #[test]
    fn only_generated_ids_and_default_parse() {
        let ep = EndpointId::generate();
        assert_eq!(EndpointId::parse(ep.as_str()), Some(ep));
        assert!(EndpointId::parse("default").unwrap().is_default());
        for bad in [
            "ep_short",
            "ep_AAAAAAAAAAAAAAAAAAAAAA",
            "ep_aaaaaaaaaaaaaaaaaaaaa.",
            "",
            "ws_x",
        ] {
            assert_eq!(EndpointId::parse(bad), None, "{bad}");
        }
        assert_eq!(EndpointId::parse("ep_aaaaaaaaaa/aaaaaaaaaaa"), None);
    }
}
