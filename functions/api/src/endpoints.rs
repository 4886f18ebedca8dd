//! `/v1/endpoints`: a workspace's endpoints, listed, shown, changed and deleted (made in
//! `endpoint_create`).
//! The default endpoint is the webhook `/v1/webhooks/outbound` addresses (the workspace's
//! first endpoint); the others are delivery scopes of their own (docs/endpoints.md).

use crate::views::{EndpointChange, EndpointDeleted, EndpointList, EndpointSummary, EndpointView};
use crate::webhooks::{save_settings, Save, MAX_DESCRIPTION_BYTES};
use crate::ApiState;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use outflow::domain::{ActivityAction, EndpointId, Grant, Notice, Webhook, WorkspaceId};
use outflow::http::{
    ApiError, ErrorBody, JsonBody, ManageEndpoints, NoStore, ReadLogs, RequiredScope, WebhookOwner,
};
use std::time::{Duration, Instant};

/// The refusal of an endpoint the workspace does not have.
const NO_ENDPOINT: ApiError = ApiError::NotFound("no such endpoint");

/// How long a delete drops what the endpoint kept before it answers (a later DELETE goes
/// on): well inside the api function's 10 s.
const PURGE_TIME: Duration = Duration::from_secs(5);

/// The owner of one of a workspace's endpoints, named by `{endpoint_id}` in the path: the
/// webhook owner (scope `S`) addressing that endpoint's delivery scope.
pub struct EndpointOwner<S = ReadLogs> {
    /// The endpoint.
    pub endpoint: EndpointId,
    /// The owner, with `workspace` the endpoint's delivery scope.
    pub owner: WebhookOwner<S>,
}

impl<S: RequiredScope + Send> FromRequestParts<ApiState> for EndpointOwner<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        let owner = WebhookOwner::<S>::from_request_parts(parts, state).await?;
        let Path(params) =
            Path::<std::collections::HashMap<String, String>>::from_request_parts(parts, state)
                .await
                .map_err(|_| NO_ENDPOINT)?;
        let endpoint = params
            .get("endpoint_id")
            .and_then(|id| EndpointId::parse(id))
            .ok_or(NO_ENDPOINT)?;
        let ws = owner.workspace.clone();
        if !endpoint.is_default() && !state.store.endpoint_ids(&ws).await?.contains(&endpoint) {
            return Err(NO_ENDPOINT);
        }
        Ok(Self {
            owner: owner.in_scope(ws.endpoint_scope(&endpoint)),
            endpoint,
        })
    }
}

impl ApiState {
    /// The view of endpoint `id` (its secret for who may manage it).
    pub(crate) async fn endpoint_view(
        &self,
        id: EndpointId,
        scope: &WorkspaceId,
        webhook: &Webhook,
        grant: &Grant,
    ) -> Result<EndpointView, ApiError> {
        Ok(EndpointView {
            endpoint_id: id,
            description: webhook.description.clone(),
            webhook: self.view(scope, webhook, grant).await?,
        })
    }
}

/// Only the default endpoint decides whether a closed chat continues (the workspace's
/// chat events follow it).
pub(crate) fn only_the_default_may(endpoint: &EndpointId, save: &Save) -> Result<(), ApiError> {
    if endpoint.is_default() {
        return Ok(());
    }
    if save.continuous_conversation {
        return Err(ApiError::invalid(
            "continuous_conversation",
            "only the default endpoint (the workspace's first) sets it; the others \
             follow the default's",
        ));
    }
    Ok(())
}

/// Every endpoint: the default first, then the others by id.
#[utoipa::path(
    get, path = "/v1/endpoints", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    responses(
        (status = 200, description = "The endpoints", body = EndpointList),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `logs:read`", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    owner: WebhookOwner,
) -> Result<Json<EndpointList>, ApiError> {
    let ws = owner.workspace;
    let mut endpoints = Vec::new();
    let (webhook, ids) = state.store.webhook_and_endpoint_ids(&ws).await?;
    if let Some(webhook) = webhook {
        endpoints.push(EndpointSummary::new(
            EndpointId::default_endpoint(),
            &webhook,
        ));
    }
    for endpoint in state.store.endpoints(&ws, &ids).await? {
        let id = endpoint.scope.endpoint();
        endpoints.push(EndpointSummary::new(id, &endpoint.webhook));
    }
    Ok(Json(EndpointList {
        endpoints,
        limit: state.max_endpoints,
    }))
}

/// One endpoint: settings, secret (with `endpoints:manage`), health, recent activity.
#[utoipa::path(
    get, path = "/v1/endpoints/{endpoint_id}", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("endpoint_id" = String, Path, description = "`default` or `ep_...`")),
    responses(
        (status = 200, description = "The endpoint", body = EndpointView),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `logs:read`", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
    )
)]
pub async fn show(
    State(state): State<ApiState>,
    EndpointOwner { endpoint, owner }: EndpointOwner,
) -> Result<NoStore<Json<EndpointView>>, ApiError> {
    let scope = &owner.workspace;
    let webhook = state.store.webhook(scope).await?.ok_or(NO_ENDPOINT)?;
    let view = state
        .endpoint_view(endpoint, scope, &webhook, &owner.grant)
        .await?;
    Ok(NoStore(Json(view)))
}

/// Changes what the body names; the rest stays. Saving it on re-sends what it held.
#[utoipa::path(
    patch, path = "/v1/endpoints/{endpoint_id}", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("endpoint_id" = String, Path, description = "`default` or `ep_...`")),
    request_body = EndpointChange,
    responses(
        (status = 200, description = "Saved", body = EndpointView),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 422, description = "The URL points inside our network or does not resolve", body = ErrorBody),
    )
)]
pub async fn change(
    State(state): State<ApiState>,
    EndpointOwner { endpoint, owner }: EndpointOwner<ManageEndpoints>,
    JsonBody(change): JsonBody<EndpointChange>,
) -> Result<NoStore<Json<EndpointView>>, ApiError> {
    let scope = &owner.workspace;
    if let Some(description) = change.description_only() {
        // A new name only: no save, so no new release and no reset of its health.
        if description.len() > MAX_DESCRIPTION_BYTES {
            let why = format!("is longer than {MAX_DESCRIPTION_BYTES} bytes");
            return Err(ApiError::invalid("description", why));
        }
        let described = state.store.describe(scope, description).await?;
        let webhook = described.ok_or(NO_ENDPOINT)?;
        let detail = format!("Renamed: {description}");
        state
            .record(scope, ActivityAction::SettingsUpdated, detail)
            .await?;
        let view = state
            .endpoint_view(endpoint, scope, &webhook, &owner.grant)
            .await?;
        return Ok(NoStore(Json(view)));
    }
    let now = state.store.webhook(scope).await?.ok_or(NO_ENDPOINT)?;
    let save = Save {
        url: change.url.unwrap_or(now.url),
        enabled: change.enabled.unwrap_or(now.enabled),
        aggregation: change.aggregation.unwrap_or(now.aggregation),
        continuous_conversation: change
            .continuous_conversation
            .unwrap_or(now.continuous_conversation),
        event_types: change.event_types.or(now.event_types),
        filter: change.filter.or(now.filter),
        description: change.description,
    };
    only_the_default_may(&endpoint, &save)?;
    let webhook = save_settings(&state, scope, save).await?;
    let view = state
        .endpoint_view(endpoint, scope, &webhook, &owner.grant)
        .await?;
    Ok(NoStore(Json(view)))
}

/// The URL of an endpoint about to be deleted, for the owner's notice (read before
/// anything changes). Best effort, like the notice: an item that cannot be read must not
/// keep the endpoint from being deleted.
async fn url_to_tell(state: &ApiState, scope: &WorkspaceId) -> Option<String> {
    match state.store.webhook_as_stored(scope).await {
        Ok(webhook) => webhook.map(|w| w.url),
        Err(e) => {
            tracing::error!(workspace_id = %scope, error = %e, "endpoint unreadable: deleted untold");
            None
        }
    }
}

/// Deletes an additional endpoint: ingest stops routing to it at once, what was queued
/// for it is dropped, and so is what it held (held deliveries, dead letters) and its chat
/// states. The default endpoint is the workspace's webhook: disable it instead.
#[utoipa::path(
    delete, path = "/v1/endpoints/{endpoint_id}", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("endpoint_id" = String, Path, description = "`ep_...`")),
    responses(
        (status = 200, description = "Deleted, with all it held", body = EndpointDeleted),
        (status = 202, description = "Deleted; what it held is still being dropped (DELETE again goes on)", body = EndpointDeleted),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 404, description = "No such endpoint", body = ErrorBody),
        (status = 409, description = "The default endpoint cannot be deleted", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<ApiState>,
    owner: WebhookOwner<ManageEndpoints>,
    Path(endpoint_id): Path<String>,
) -> Result<(StatusCode, Json<EndpointDeleted>), ApiError> {
    let endpoint = EndpointId::parse(&endpoint_id).ok_or(NO_ENDPOINT)?;
    if endpoint.is_default() {
        return Err(ApiError::Conflict(
            "the default endpoint is the workspace's webhook: disable it instead",
        ));
    }
    let ws = owner.workspace;
    let now = state.clock.now();
    let scope = ws.endpoint_scope(&endpoint);
    let url = url_to_tell(&state, &scope).await;
    // Unlisted first: ingest stops routing to it; marked: the sender drops what it gets.
    let listed = state.store.unlist_endpoint(&ws, &endpoint).await?;
    let exists = state
        .store
        .mark_endpoint_deleted(&ws, &endpoint, now)
        .await?;
    if !listed && !exists {
        return Err(NO_ENDPOINT);
    }
    // Told once, by the call that unlisted it (a DELETE that goes on drops what is left).
    if let Some(url) = url.filter(|_| listed) {
        let endpoint = endpoint.to_string();
        let notice = Notice::EndpointDeleted { endpoint, url };
        state.notices.send(&ws, &notice, now).await;
    }
    let (dropped, chats, complete) = purge(&state, &ws, &endpoint).await?;
    let detail = format!(
        "Endpoint {endpoint} deleted; {dropped} held deliveries, dead letters and pending windows dropped, \
         and {chats} chat states"
    );
    state
        .record(&ws, ActivityAction::SettingsUpdated, detail)
        .await?;
    tracing::info!(workspace_id = %ws, endpoint_id = %endpoint, dropped, chats, complete, "endpoint deleted");
    let status = match complete {
        true => StatusCode::OK,
        false => StatusCode::ACCEPTED,
    };
    Ok((
        status,
        Json(EndpointDeleted {
            endpoint_id: endpoint,
            deleted: true,
            dropped,
            complete,
        }),
    ))
}

/// Drops what a deleted endpoint kept, then its chat states, within the purge's time,
/// and last its item once both are gone: (kept dropped, chat states dropped, all gone).
async fn purge(
    state: &ApiState,
    ws: &WorkspaceId,
    endpoint: &EndpointId,
) -> Result<(usize, usize, bool), ApiError> {
    let scope = ws.endpoint_scope(endpoint);
    let deadline = Instant::now() + PURGE_TIME;
    let (dropped, mut complete) = state.store.purge_kept(&scope, deadline).await?;
    let mut chats = 0;
    if complete {
        (chats, complete) = state.store.purge_chat_states(&scope, deadline).await?;
    }
    if complete {
        state.store.delete_endpoint_item(ws, endpoint).await?;
    }
    Ok((dropped, chats, complete))
}
