//! The tenant portal: links the SaaS mints for a workspace (admin), and the page they open
//! (`page`), which works through the webhook's own routes with the link's token.

pub mod page;

use crate::views::{NewPortalLink, PortalLinkIssued, PortalLinksRevoked};
use crate::ApiState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Json;
use outflow::domain::portal::link_lifetime;
use outflow::domain::{PortalLink, PortalToken, Timestamp, WorkspaceId};
use outflow::http::{Admin, ApiError, ErrorBody, LimitedBody, NoStore};

const NO_WORKSPACE: ApiError = ApiError::NotFound("no such workspace");

impl ApiState {
    /// Mints a link to `ws`'s portal living `secs` seconds; `None` when there is no such
    /// workspace. `host` is the request's, for stacks without a public base URL.
    pub async fn mint_portal_link(
        &self,
        ws: &WorkspaceId,
        secs: u64,
        host: Option<&str>,
    ) -> Result<Option<PortalLinkIssued>, ApiError> {
        let now = self.clock.now();
        let link = PortalLink {
            minted_ms: now.millis(),
            expires_ms: now.millis() + secs as i64 * 1_000,
        };
        let token = PortalToken::generate(ws);
        if !self.store.save_portal_link(ws, &token, link).await? {
            return Ok(None);
        }
        let base = self.portal_base(host)?;
        let expires_at = Timestamp::from_unix_millis(link.expires_ms)
            .ok_or_else(|| ApiError::invalid("expires_in", "is too far in the future"))?;
        Ok(Some(PortalLinkIssued {
            url: format!("{base}/portal#token={}", token.reveal()),
            expires_at,
        }))
    }

    /// Where the portal is served: the public base URL, or (a stack without one, as local
    /// runs are) the host the request came to.
    fn portal_base(&self, host: Option<&str>) -> Result<String, ApiError> {
        if let Some(base) = &self.public_base_url {
            return Ok(base.trim_end_matches('/').to_string());
        }
        let host = host.ok_or(ApiError::Unavailable(
            "OUTFLOW_PUBLIC_BASE_URL is not set and the request names no host".into(),
        ))?;
        let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
        let local = name == "127.0.0.1" || name == "localhost";
        let scheme = if local { "http" } else { "https" };
        Ok(format!("{scheme}://{host}"))
    }
}

/// Mints a portal link to the workspace's settings page.
#[utoipa::path(
    post, path = "/v1/workspaces/{workspace_id}/portal-links", tag = "portal",
    security(("admin_token" = [])),
    params(("workspace_id" = String, Path, description = "The workspace")),
    request_body(content = NewPortalLink, description = "Optional: the link's lifetime"),
    responses(
        (status = 201, description = "The link, shown once", body = PortalLinkIssued),
        (status = 400, description = "`expires_in` out of range", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody),
    )
)]
pub async fn mint(
    State(state): State<ApiState>,
    _: Admin,
    Path(workspace_id): Path<String>,
    headers: HeaderMap,
    body: LimitedBody,
) -> Result<NoStore<(StatusCode, Json<PortalLinkIssued>)>, ApiError> {
    let ws = WorkspaceId::parse(&workspace_id).ok_or(NO_WORKSPACE)?;
    let request: NewPortalLink = match body.0.is_empty() {
        true => NewPortalLink::default(),
        false => body.json()?,
    };
    let secs = link_lifetime(request.expires_in).map_err(|m| ApiError::invalid("expires_in", m))?;
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let issued = state
        .mint_portal_link(&ws, secs, host)
        .await?
        .ok_or(NO_WORKSPACE)?;
    tracing::info!(workspace_id = %ws, expires_at = %issued.expires_at, "portal link minted");
    Ok(NoStore((StatusCode::CREATED, Json(issued))))
}

/// Ends every portal link (and so every open portal) of the workspace at once.
#[utoipa::path(
    post, path = "/v1/workspaces/{workspace_id}/portal-links/revoke", tag = "portal",
    security(("admin_token" = [])),
    params(("workspace_id" = String, Path, description = "The workspace")),
    responses(
        (status = 200, description = "Revoked", body = PortalLinksRevoked),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody),
    )
)]
pub async fn revoke(
    State(state): State<ApiState>,
    _: Admin,
    Path(workspace_id): Path<String>,
) -> Result<Json<PortalLinksRevoked>, ApiError> {
    let ws = WorkspaceId::parse(&workspace_id).ok_or(NO_WORKSPACE)?;
    let now = state.clock.now();
    if !state.store.revoke_portal_links(&ws, now.millis()).await? {
        return Err(NO_WORKSPACE);
    }
    tracing::info!(workspace_id = %ws, "portal links revoked");
    Ok(Json(PortalLinksRevoked {
        workspace_id: ws,
        revoked_at: now,
    }))
}
