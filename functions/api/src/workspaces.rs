//! Workspaces and their API keys: create (admin), rotate and revoke (tenant), reset (admin).

use crate::ApiState;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use outflow::domain::{ApiKey, Timestamp, WorkspaceId};
use outflow::formats::limits::MAX_SHORT_FIELD_BYTES;
use outflow::http::{bearer_token, require_workspace, tokens_match, ApiError, LimitedBody};
use outflow::store::Workspace;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct NewWorkspace {
    name: String,
    owner_email: String,
}

fn validate(body: &NewWorkspace) -> Result<(), ApiError> {
    if body.name.trim().is_empty() || body.name.len() > MAX_SHORT_FIELD_BYTES {
        return Err(ApiError::invalid("name", "must be 1 to 512 bytes"));
    }
    let email = body.owner_email.trim();
    let plausible = email.len() <= 254
        && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.'))
        && !email.contains(char::is_whitespace);
    if !plausible {
        return Err(ApiError::invalid("owner_email", "must be an email address"));
    }
    Ok(())
}

/// Creates a workspace; answers 201 with its id and API key.
pub async fn create(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: LimitedBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !tokens_match(bearer_token(&headers)?, &state.admin_token) {
        return Err(ApiError::Unauthorized("invalid admin token"));
    }
    let request: NewWorkspace = body.json()?;
    validate(&request)?;
    let workspace = Workspace {
        workspace_id: WorkspaceId::generate(),
        name: request.name.trim().to_string(),
        owner_email: request.owner_email.trim().to_string(),
        created_at: Timestamp::now(),
    };
    let key = ApiKey::generate(&workspace.workspace_id);
    state.store.create_workspace(&workspace, &key).await?;
    tracing::info!(workspace_id = %workspace.workspace_id, "workspace created");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "workspace_id": workspace.workspace_id,
            "name": workspace.name,
            "owner_email": workspace.owner_email,
            "api_key": key.reveal(),
        })),
    ))
}

/// `POST /v1/api-keys/rotate` (tenant key): a new API key, shown once; the key that made the
/// request stops working at once.
pub async fn rotate_key(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let ws = require_workspace(&state.store, &headers).await?;
    let old = ApiKey::presented(bearer_token(&headers)?);
    let new = ApiKey::generate(&ws);
    if !state.store.rotate_api_key(&ws, &old, &new).await? {
        return Err(ApiError::Unauthorized(
            "the key was revoked by a concurrent rotation",
        ));
    }
    tracing::info!(workspace_id = %ws, "api key rotated");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "workspace_id": ws, "api_key": new.reveal() })),
    ))
}

/// `POST /v1/api-keys/revoke` (tenant key): the key that made the request stops working at
/// once; the workspace keeps its data (an admin issues a new key with `reset`).
pub async fn revoke_key(
    State(state): State<ApiState>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let ws = require_workspace(&state.store, &headers).await?;
    let key = ApiKey::presented(bearer_token(&headers)?);
    if !state.store.revoke_api_key(&ws, &key).await? {
        return Err(ApiError::Unauthorized("the key was already revoked"));
    }
    tracing::info!(workspace_id = %ws, "api key revoked");
    Ok(Json(json!({ "workspace_id": ws, "revoked": true })))
}

/// `POST /v1/workspaces/{workspace_id}/api-keys/reset` (admin token): a new key, shown once;
/// every previous key of the workspace stops working in the same update.
pub async fn reset_keys(
    State(state): State<ApiState>,
    headers: HeaderMap,
    Path(workspace_id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if !tokens_match(bearer_token(&headers)?, &state.admin_token) {
        return Err(ApiError::Unauthorized("invalid admin token"));
    }
    let ws = WorkspaceId::parse(&workspace_id).ok_or(ApiError::NotFound("no such workspace"))?;
    let key = ApiKey::generate(&ws);
    let revoked = state
        .store
        .reset_api_keys(&ws, &key)
        .await?
        .ok_or(ApiError::NotFound("no such workspace"))?;
    tracing::info!(workspace_id = %ws, revoked, "api keys reset");
    Ok((
        StatusCode::CREATED,
        Json(json!({ "workspace_id": ws, "api_key": key.reveal(), "revoked": revoked })),
    ))
}
