//! Workspaces and their API keys: create (admin), rotate and revoke (tenant), reset (admin).

use crate::views::{KeyIssued, KeyRevoked, NewWorkspace, WorkspaceCreated};
use crate::ApiState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use outflow::domain::{ApiKey, Notice, Workspace, WorkspaceId};
use outflow::formats::limits::MAX_SHORT_FIELD_BYTES;
use outflow::http::{Admin, ApiError, ErrorBody, JsonBody, NoStore, Tenant};

/// A created resource carrying a key: `201`, never cached.
type Created<T> = NoStore<(StatusCode, Json<T>)>;

fn created<T>(body: T) -> Created<T> {
    NoStore((StatusCode::CREATED, Json(body)))
}

impl NewWorkspace {
    /// The name and owner, trimmed, or the field that is wrong.
    fn validated(self) -> Result<(String, String), ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > MAX_SHORT_FIELD_BYTES {
            return Err(ApiError::invalid("name", "must be 1 to 512 bytes"));
        }
        let email = self.owner_email.trim();
        let plausible = email.len() <= 254
            && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.'))
            && !email.contains(char::is_whitespace);
        if !plausible {
            return Err(ApiError::invalid("owner_email", "must be an email address"));
        }
        Ok((name.to_string(), email.to_string()))
    }
}

/// Creates a workspace; answers 201 with its id and its first API key.
#[utoipa::path(
    post, path = "/v1/workspaces", tag = "workspaces",
    security(("admin_token" = [])),
    request_body = NewWorkspace,
    responses(
        (status = 201, description = "Created; the key is shown once", body = WorkspaceCreated),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ApiState>,
    _: Admin,
    JsonBody(request): JsonBody<NewWorkspace>,
) -> Result<Created<WorkspaceCreated>, ApiError> {
    let (name, owner_email) = request.validated()?;
    let workspace = Workspace {
        workspace_id: WorkspaceId::generate(),
        name,
        owner_email,
        created_at: state.clock.now(),
    };
    let key = ApiKey::generate(&workspace.workspace_id);
    state.store.create_workspace(&workspace, &key).await?;
    tracing::info!(workspace_id = %workspace.workspace_id, "workspace created");
    Ok(created(WorkspaceCreated {
        workspace_id: workspace.workspace_id,
        name: workspace.name,
        owner_email: workspace.owner_email,
        api_key: key.reveal().to_string(),
    }))
}

/// A new API key, shown once; the key that made the request stops working at once.
#[utoipa::path(
    post, path = "/v1/api-keys/rotate", tag = "workspaces",
    security(("tenant_key" = [])),
    responses(
        (status = 201, description = "The new key", body = KeyIssued),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    )
)]
pub async fn rotate_key(
    State(state): State<ApiState>,
    tenant: Tenant,
) -> Result<Created<KeyIssued>, ApiError> {
    let ws = tenant.workspace;
    let new = ApiKey::generate(&ws);
    // Its name, kept apart from the key check: the new key takes it over.
    let record = state
        .store
        .described(&ws, &tenant.key, tenant.record)
        .await?;
    let old = (&tenant.key, &record);
    if !state.store.rotate_api_key(&ws, old, &new).await? {
        return Err(ApiError::Unauthorized(
            "the key was revoked by a concurrent rotation",
        ));
    }
    tracing::info!(workspace_id = %ws, "api key rotated");
    let notice = Notice::KeyRotated {
        name: record.name.clone(),
    };
    state.notices.send(&ws, &notice, state.clock.now()).await;
    Ok(created(KeyIssued {
        workspace_id: ws,
        api_key: new.reveal().to_string(),
        revoked: None,
    }))
}

/// The key that made the request stops working at once; the workspace keeps its data
/// (an admin issues a new key with `reset`).
#[utoipa::path(
    post, path = "/v1/api-keys/revoke", tag = "workspaces",
    security(("tenant_key" = [])),
    responses(
        (status = 200, description = "Revoked", body = KeyRevoked),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
    )
)]
pub async fn revoke_key(
    State(state): State<ApiState>,
    tenant: Tenant,
) -> Result<Json<KeyRevoked>, ApiError> {
    let ws = tenant.workspace;
    if !state.store.revoke_api_key(&ws, &tenant.key).await? {
        return Err(ApiError::Unauthorized("the key was already revoked"));
    }
    tracing::info!(workspace_id = %ws, "api key revoked");
    Ok(Json(KeyRevoked {
        workspace_id: ws,
        revoked: true,
    }))
}

/// A new key, shown once; every previous key of the workspace stops working in the same
/// update (a lost or leaked key).
#[utoipa::path(
    post, path = "/v1/workspaces/{workspace_id}/api-keys/reset", tag = "workspaces",
    security(("admin_token" = [])),
    params(("workspace_id" = String, Path, description = "The workspace")),
    responses(
        (status = 201, description = "The new key and how many were revoked", body = KeyIssued),
        (status = 401, description = "Missing or wrong admin token", body = ErrorBody),
        (status = 404, description = "No such workspace", body = ErrorBody),
    )
)]
pub async fn reset_keys(
    State(state): State<ApiState>,
    _: Admin,
    Path(workspace_id): Path<String>,
) -> Result<Created<KeyIssued>, ApiError> {
    let ws = WorkspaceId::parse(&workspace_id).ok_or(ApiError::NotFound("no such workspace"))?;
    let key = ApiKey::generate(&ws);
    let revoked = state
        .store
        .reset_api_keys(&ws, &key)
        .await?
        .ok_or(ApiError::NotFound("no such workspace"))?;
    tracing::info!(workspace_id = %ws, revoked, "api keys reset");
    let notice = Notice::KeysReset { revoked };
    state.notices.send(&ws, &notice, state.clock.now()).await;
    Ok(created(KeyIssued {
        workspace_id: ws,
        api_key: key.reveal().to_string(),
        revoked: Some(revoked),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_workspace_needs_a_name_and_an_owner_address() {
        let new = |name: &str, email: &str| NewWorkspace {
            name: name.into(),
            owner_email: email.into(),
        };
        let field = |r: Result<(String, String), ApiError>| match r {
            Err(ApiError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            new("  Acme ", " o@acme.test ").validated().unwrap(),
            ("Acme".to_string(), "o@acme.test".to_string())
        );
        assert_eq!(field(new(" ", "o@acme.test").validated()), "name");
        assert_eq!(
            field(new(&"n".repeat(513), "o@acme.test").validated()),
            "name"
        );
        for bad in ["nope", "@acme.test", "o@acme", "o p@acme.test"] {
            assert_eq!(field(new("Acme", bad).validated()), "owner_email", "{bad}");
        }
    }
}
