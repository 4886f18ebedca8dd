//! `/v1/api-keys`: keys with chosen scopes, made and listed by a key holding `keys:manage`.
//! A key can only grant scopes it holds itself, so no key makes a stronger one.

use crate::views::{ApiKeyCreated, ApiKeyList, ApiKeyListed, NewApiKey};
use crate::ApiState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use outflow::domain::{ApiKey, Grant, Notice};
use outflow::http::{ApiError, ErrorBody, JsonBody, ManageKeys, NoStore, Tenant, INVALID_KEY};
use outflow::store::MAX_API_KEYS;

/// The longest key name, in bytes.
const MAX_KEY_NAME_BYTES: usize = 100;

impl NewApiKey {
    /// The trimmed name and the grant, or the field that is wrong.
    fn validated(self) -> Result<(String, Grant), ApiError> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > MAX_KEY_NAME_BYTES {
            return Err(ApiError::invalid(
                "name",
                format!("must be 1 to {MAX_KEY_NAME_BYTES} bytes"),
            ));
        }
        // It is quoted in the owner's security emails: one plain line, nothing more.
        if name.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "name",
                "must not contain control characters (line breaks, tabs, ...)",
            ));
        }
        if self.scopes.is_empty() {
            return Err(ApiError::invalid("scopes", "must name at least one scope"));
        }
        Ok((name.to_string(), Grant::only(self.scopes)))
    }
}

/// Makes a key with the scopes asked for; answers 201 with the key, shown once.
#[utoipa::path(
    post, path = "/v1/api-keys", tag = "workspaces",
    security(("tenant_key" = [])),
    request_body = NewApiKey,
    responses(
        (status = 201, description = "The new key, shown once", body = ApiKeyCreated),
        (status = 400, description = "A field is invalid", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `keys:manage`, or a scope it would grant", body = ErrorBody),
        (status = 409, description = "The workspace holds 20 keys already", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ApiState>,
    tenant: Tenant<ManageKeys>,
    JsonBody(request): JsonBody<NewApiKey>,
) -> Result<NoStore<(StatusCode, Json<ApiKeyCreated>)>, ApiError> {
    let (name, grant) = request.validated()?;
    if let Some(lacking) = grant
        .scopes()
        .into_iter()
        .find(|s| !tenant.record.grant.allows(*s))
    {
        return Err(ApiError::MissingScope(lacking));
    }
    let ws = tenant.workspace;
    let key = ApiKey::generate(&ws);
    let made = (&key, name.as_str(), &grant);
    let record = match state.store.add_api_key(&ws, &tenant.key, made).await? {
        None => return Err(INVALID_KEY),
        Some(None) => {
            return Err(ApiError::Conflict(
                "the workspace holds 20 API keys, the most it may: revoke one first",
            ))
        }
        Some(Some(record)) => record,
    };
    const _: () = assert!(MAX_API_KEYS == 20, "the conflict message names the limit");
    tracing::info!(workspace_id = %ws, scopes = ?record.grant.scopes(), "api key made");
    let scopes: Vec<&str> = record.grant.scopes().iter().map(|s| s.as_str()).collect();
    let notice = Notice::KeyCreated {
        name: record.name.clone().unwrap_or_default(),
        scopes: scopes.join(", "),
    };
    state.notices.send(&ws, &notice, state.clock.now()).await;
    Ok(NoStore((
        StatusCode::CREATED,
        Json(ApiKeyCreated {
            workspace_id: ws,
            api_key: key.reveal().to_string(),
            listed: ApiKeyListed::from(record),
        }),
    )))
}

/// The workspace's keys: prefix, name, scopes and creation time (never a key).
#[utoipa::path(
    get, path = "/v1/api-keys", tag = "workspaces",
    security(("tenant_key" = [])),
    responses(
        (status = 200, description = "The keys, oldest first", body = ApiKeyList),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The key lacks `keys:manage`", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<ApiState>,
    tenant: Tenant<ManageKeys>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let records = state.store.api_keys(&tenant.workspace).await?;
    Ok(Json(ApiKeyList {
        keys: records.into_iter().map(ApiKeyListed::from).collect(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use outflow::domain::Scope;

    #[test]
    fn a_new_key_needs_a_name_and_a_scope() {
        let ask = |name: &str, scopes: Vec<Scope>| {
            NewApiKey {
                name: name.into(),
                scopes,
            }
            .validated()
        };
        let (name, grant) = ask(" Chatwoot ", vec![Scope::EventsWrite]).unwrap();
        assert_eq!(name, "Chatwoot");
        assert_eq!(grant, Grant::Only(vec![Scope::EventsWrite]));
        assert!(
            matches!(ask(" ", vec![Scope::EventsWrite]), Err(ApiError::Invalid { field, .. }) if field == "name")
        );
        assert!(
            matches!(ask("x", vec![]), Err(ApiError::Invalid { field, .. }) if field == "scopes")
        );
        let long = "n".repeat(MAX_KEY_NAME_BYTES + 1);
        assert!(ask(&long, vec![Scope::LogsRead]).is_err());
        assert!(ask("Chat\nDear owner, click", vec![Scope::LogsRead]).is_err());
    }
}
