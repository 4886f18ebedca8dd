//! Who is calling: the tenant behind an API key, the tenant in its portal (a portal link's
//! token: the webhook's routes only), or the operator's admin token. Each is an extractor,
//! so a handler names the credential it needs in its signature and nothing else checks
//! one. All read `Authorization: Bearer <token>`.

use super::ApiError;
use crate::domain::{ApiKey, Grant, KeyRecord, PortalRefusal, PortalToken, Scope, WorkspaceId};
use crate::store::Store;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use std::marker::PhantomData;
use std::sync::Arc;
use subtle::ConstantTimeEq;

/// The refusal of a key that is not (or no longer) valid.
pub const INVALID_KEY: ApiError = ApiError::Unauthorized("invalid API key");

/// The bearer token of a request.
pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or(ApiError::Unauthorized(
            "missing Authorization: Bearer header",
        ))?
        .to_str()
        .map_err(|_| ApiError::Unauthorized("malformed Authorization header"))?;
    value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthorized(
            "expected Authorization: Bearer <token>",
        ))
}

/// Compares secrets in constant time.
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(presented.as_bytes().ct_eq(expected.as_bytes()))
}

/// An API key as presented, with the workspace it names; not verified yet (ingest
/// verifies it in the same update that admits the request).
#[derive(Debug, Clone)]
pub struct PresentedKey {
    /// The key.
    pub key: ApiKey,
    /// The workspace it claims.
    pub workspace: WorkspaceId,
}

impl<S: Send + Sync> FromRequestParts<S> for PresentedKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let key = ApiKey::presented(bearer_token(&parts.headers)?);
        let workspace = key.workspace().ok_or(INVALID_KEY)?;
        Ok(Self { key, workspace })
    }
}

/// A scope a handler needs, named as a type so the handler's signature says it.
pub trait RequiredScope: Send + Sync {
    /// The scope (`None`: any valid key will do).
    const SCOPE: Option<Scope>;
}

/// Any valid key: rotating or revoking the key itself.
#[derive(Debug, Clone, Copy)]
pub struct AnyScope;
/// `logs:read`: the webhook's settings, activity, counts and request log.
#[derive(Debug, Clone, Copy)]
pub struct ReadLogs;
/// `endpoints:manage`: changing the webhook, its secret, replays, resends and tests.
#[derive(Debug, Clone, Copy)]
pub struct ManageEndpoints;
/// `keys:manage`: making and listing API keys.
#[derive(Debug, Clone, Copy)]
pub struct ManageKeys;

impl RequiredScope for AnyScope {
    const SCOPE: Option<Scope> = None;
}
impl RequiredScope for ReadLogs {
    const SCOPE: Option<Scope> = Some(Scope::LogsRead);
}
impl RequiredScope for ManageEndpoints {
    const SCOPE: Option<Scope> = Some(Scope::EndpointsManage);
}
impl RequiredScope for ManageKeys {
    const SCOPE: Option<Scope> = Some(Scope::KeysManage);
}

/// `403` naming the scope `grant` lacks, if it lacks the one `S` needs.
fn check_scope<S: RequiredScope>(grant: &Grant) -> Result<(), ApiError> {
    match S::SCOPE {
        Some(scope) if !grant.allows(scope) => Err(ApiError::MissingScope(scope)),
        _ => Ok(()),
    }
}

/// A tenant whose API key was verified against the stored hashes (strongly consistent,
/// so a revoked or rotated key is refused at once) and holds the scope `S` needs.
#[derive(Debug, Clone)]
pub struct Tenant<S = AnyScope> {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// The key that authenticated the request.
    pub key: ApiKey,
    /// What the key check read about the key: its scopes (its name and prefix are kept
    /// apart: `Store::described` adds them).
    pub record: KeyRecord,
    scope: PhantomData<S>,
}

impl<St: Send + Sync, S: RequiredScope> FromRequestParts<St> for Tenant<S>
where
    Store: FromRef<St>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let key = ApiKey::presented(bearer_token(&parts.headers)?);
        let (workspace, record) = Store::from_ref(state)
            .authenticate(&key)
            .await?
            .ok_or(INVALID_KEY)?;
        check_scope::<S>(&record.grant)?;
        Ok(Self {
            workspace,
            key,
            record,
            scope: PhantomData,
        })
    }
}

/// The owner of a workspace's webhook: its tenant, by an API key holding the scope `S`
/// needs, or through a portal link (which opens the webhook's routes, every scope of
/// them, and nothing else).
#[derive(Debug, Clone)]
pub struct WebhookOwner<S = ReadLogs> {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// True when it came through a portal link.
    pub via_portal: bool,
    /// What the credential may do (a portal link: every scope).
    pub grant: Grant,
    scope: PhantomData<S>,
}

impl<St: Send + Sync, S: RequiredScope> FromRequestParts<St> for WebhookOwner<S>
where
    Store: FromRef<St>,
    crate::clock::Clock: FromRef<St>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let presented = bearer_token(&parts.headers)?;
        if !PortalToken::is_portal(presented) {
            let tenant = Tenant::<S>::from_request_parts(parts, state).await?;
            return Ok(Self {
                workspace: tenant.workspace,
                via_portal: false,
                grant: tenant.record.grant,
                scope: PhantomData,
            });
        }
        let token = PortalToken::presented(presented);
        let workspace = token
            .workspace()
            .ok_or(portal_refused(PortalRefusal::Unknown))?;
        let (link, revoked) = Store::from_ref(state)
            .portal_link(&workspace, &token)
            .await?;
        let now = crate::clock::Clock::from_ref(state).now();
        link.ok_or(PortalRefusal::Unknown)
            .and_then(|link| link.check(now, revoked))
            .map_err(portal_refused)?;
        Ok(Self {
            workspace,
            via_portal: true,
            grant: Grant::Full,
            scope: PhantomData,
        })
    }
}

impl<S> WebhookOwner<S> {
    /// The same owner, addressing one of the workspace's endpoints (`scope`, which the
    /// caller made from this owner's workspace and a listed endpoint).
    pub fn in_scope(self, scope: WorkspaceId) -> Self {
        debug_assert_eq!(scope.tenant(), self.workspace);
        Self {
            workspace: scope,
            ..self
        }
    }
}

/// The refusal of a portal link, saying why (the portal page shows what to do).
pub fn portal_refused(why: PortalRefusal) -> ApiError {
    ApiError::Unauthorized(match why {
        PortalRefusal::Unknown => "invalid portal link",
        PortalRefusal::Expired => "this portal link has expired",
        PortalRefusal::Revoked => "this portal link was revoked",
    })
}

/// The operator's admin token, as configured (never printed: `Debug` hides it).
#[derive(Clone)]
pub struct AdminToken(pub Arc<str>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// A request carrying the admin token.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl<S: Send + Sync> FromRequestParts<S> for Admin
where
    AdminToken: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let expected = AdminToken::from_ref(state);
        if tokens_match(bearer_token(&parts.headers)?, &expected.0) {
            Ok(Admin)
        } else {
            Err(ApiError::Unauthorized("invalid admin token"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(authorization: Option<&str>) -> Parts {
        let mut request = Request::builder().uri("/");
        if let Some(value) = authorization {
            request = request.header(header::AUTHORIZATION, value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn reads_bearer_tokens() {
        let mut h = HeaderMap::new();
        assert!(bearer_token(&h).is_err());
        h.insert(header::AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert_eq!(bearer_token(&h).unwrap(), "abc");
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert!(bearer_token(&h).is_err());
    }

    #[test]
    fn compares_tokens() {
        assert!(tokens_match("s3cret", "s3cret"));
        assert!(!tokens_match("s3cret", "s3creT"));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn the_admin_token_is_never_printed() {
        let token = AdminToken("s3cret-admin".into());
        assert!(!format!("{token:?}").contains("s3cret"));
    }

    #[tokio::test]
    async fn the_admin_extractor_takes_only_the_configured_token() {
        let state = AdminToken("s3cret".into());
        let cases = [
            (Some("Bearer s3cret"), true),
            (Some("Bearer s3creT"), false),
            (Some("s3cret"), false),
            (None, false),
        ];
        for (header, ok) in cases {
            let got = Admin::from_request_parts(&mut parts(header), &state).await;
            assert_eq!(got.is_ok(), ok, "{header:?}");
        }
    }

    #[tokio::test]
    async fn a_presented_key_must_name_a_workspace() {
        let ws = WorkspaceId::generate();
        let key = ApiKey::generate(&ws);
        let header = format!("Bearer {}", key.reveal());
        let presented = PresentedKey::from_request_parts(&mut parts(Some(&header)), &())
            .await
            .unwrap();
        assert_eq!(presented.workspace, ws);
        let bad = PresentedKey::from_request_parts(&mut parts(Some("Bearer nope")), &()).await;
        assert!(matches!(bad, Err(ApiError::Unauthorized(_))));
    }
}
