//! `POST /v1/endpoints`: a new endpoint, made once per `Idempotency-Key`. A client that
//! retries a create after an error or a lost answer gets the endpoint the first request
//! made, not a second one copying every delivery (docs/endpoints.md).

use crate::endpoints::only_the_default_may;
use crate::views::{EndpointView, NewEndpoint};
use crate::webhooks::{register_settings, save_settings, Save};
use crate::ApiState;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use outflow::domain::{
    abandoned, registrant, request_digest, EndpointId, IdempotencyKey, Notice, Webhook, WorkspaceId,
};
use outflow::http::{ApiError, ErrorBody, JsonBody, ManageEndpoints, NoStore, WebhookOwner};
use outflow::store::{FirstUse, KeyUse};
use outflow::url_policy::same_as_saved;

/// The request header naming a create's idempotency key.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The answer header saying the endpoint was made by an earlier request with the key.
pub const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// A new endpoint, with its own signing secret (shown to who may manage it). The
/// workspace's first is its default endpoint; one past the limit is a `409`. With an
/// `Idempotency-Key`, a repeat of the request within 24 hours answers with the endpoint
/// the first one made (`Idempotent-Replayed: true`).
#[utoipa::path(
    post, path = "/v1/endpoints", tag = "endpoints",
    security(("tenant_key" = []), ("portal_link" = [])),
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 255 visible ASCII characters (a UUID): a repeat of the request with it within 24 hours makes nothing new")),
    request_body = NewEndpoint,
    responses(
        (status = 201, description = "Created (or, with `Idempotent-Replayed: true`, made by an earlier request with the key)", body = EndpointView),
        (status = 400, description = "A field or the Idempotency-Key is invalid", body = ErrorBody),
        (status = 401, description = "Missing or invalid credential", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `endpoints:manage`", body = ErrorBody),
        (status = 409, description = "The workspace has as many endpoints as it may, or the key's first request is still running (or being taken over after it was cut off) or its endpoint was deleted", body = ErrorBody),
        (status = 422, description = "The URL points inside our network or does not resolve, or the key came with another request", body = ErrorBody),
        (status = 503, description = "A backing service failed, the key could not be freed after another request made the default endpoint, or a repeat took over the key of this request, found cut off: retry with the same Idempotency-Key", body = ErrorBody),
    )
)]
pub async fn create(
    State(state): State<ApiState>,
    owner: WebhookOwner<ManageEndpoints>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<NewEndpoint>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    // A workspace's first endpoint is its default: of two first creates at once, one
    // makes it, and the other, finding it made, is tried again. Unkeyed, that makes an
    // additional one; keyed, its claim answers the default its key made, or frees the
    // key (another's default) for a third try that makes an additional one.
    for _ in 0..3 {
        if let Some(made) = attempt(&state, &owner, key.as_ref(), &request).await? {
            return Ok(made);
        }
    }
    // Only when the key, naming a default another request made, could not be freed.
    Err(ApiError::Unavailable(
        "the default endpoint was registered meanwhile and the key could not be freed; \
         retry with the same key"
            .into(),
    ))
}

/// One try at the create: the answer, or `None` when the default endpoint it was to make
/// was made by another request meanwhile (nothing made), or its key named another's
/// default (the key freed).
async fn attempt(
    state: &ApiState,
    owner: &WebhookOwner<ManageEndpoints>,
    key: Option<&IdempotencyKey>,
    request: &NewEndpoint,
) -> Result<Option<Response>, ApiError> {
    let ws = &owner.workspace;
    let fresh = match state.store.webhook_as_stored(ws).await? {
        None => EndpointId::default_endpoint(),
        Some(_) => EndpointId::generate(),
    };
    let id = match key {
        None => fresh,
        Some(key) => {
            let first = FirstUse {
                endpoint: fresh,
                request: request_digest(request),
            };
            match claim(state, ws, key, first, &request.url).await? {
                Claim::Make(id) => id,
                Claim::Made(id, webhook) => {
                    return answer(state, owner, id, &webhook, true).await.map(Some);
                }
                Claim::Taken => {
                    let default = EndpointId::default_endpoint();
                    forget_key(state, ws, key, &default).await;
                    return Ok(None);
                }
            }
        }
    };
    let creation = Creation {
        state,
        ws,
        id: &id,
        key,
    };
    let Some(webhook) = creation.make(save_of(request)).await? else {
        return Ok(None);
    };
    tracing::info!(workspace_id = %ws, endpoint_id = %id, "endpoint created");
    answer(state, owner, id, &webhook, false).await.map(Some)
}

/// The settings a create asks for.
fn save_of(request: &NewEndpoint) -> Save {
    Save {
        url: request.url.clone(),
        enabled: request.enabled,
        aggregation: request.aggregation.unwrap_or_default(),
        continuous_conversation: request.continuous_conversation,
        event_types: request.event_types.clone(),
        filter: request.filter.clone(),
        description: request.description.clone(),
    }
}

/// The `Idempotency-Key` header, if sent.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?;
    IdempotencyKey::parse(text)
        .map(Some)
        .map_err(|why| ApiError::invalid("Idempotency-Key", why))
}

/// What a create with an idempotency key does.
enum Claim {
    /// Make this endpoint: the key is new, or its first request made nothing (a default
    /// endpoint not there: the first request failed before its settings' write).
    Make(EndpointId),
    /// The key's first request made this endpoint: answer with it.
    Made(EndpointId, Box<Webhook>),
    /// The key names the default endpoint, which another request registered (`made_by`:
    /// another key's mark, `-`, or unmarked with another URL): free the key and try
    /// again, as an additional endpoint.
    Taken,
}

/// Claims `key` for `first`, or finds what its first request did. Only the request that
/// claimed a key ever writes its endpoint: a repeat answers, or is refused, or, the
/// default being another's, frees its key to make an additional endpoint.
async fn claim(
    state: &ApiState,
    ws: &WorkspaceId,
    key: &IdempotencyKey,
    first: FirstUse,
    url: &str,
) -> Result<Claim, ApiError> {
    let now = state.clock.now();
    let Some(used) = state.store.claim_idempotency(ws, key, &first, now).await? else {
        return Ok(Claim::Make(first.endpoint));
    };
    if used.first.request != first.request {
        return Err(ApiError::Unprocessable {
            field: "Idempotency-Key".into(),
            message: "was sent with another request in the last 24 hours: use a new key".into(),
        });
    }
    let id = used.first.endpoint.clone();
    // This request's own claim (a new id), its write's answer lost and retried.
    if used.first == first && !id.is_default() {
        return Ok(Claim::Make(id));
    }
    if id.is_default() {
        return match state.store.webhook(ws).await? {
            None => Ok(Claim::Make(id)),
            // Registered meanwhile by another request: not this one's.
            Some(webhook) if !made_by(&webhook, &registrant(ws, Some(key)), url) => {
                Ok(Claim::Taken)
            }
            Some(webhook) => Ok(Claim::Made(id, Box::new(webhook))),
        };
    }
    let listed = state.store.endpoint_ids(ws).await?.contains(&id);
    let webhook = match listed {
        true => state.store.webhook(&ws.endpoint_scope(&id)).await?,
        false => None,
    };
    // One being deleted (marked before its item goes) is deleted.
    match webhook.filter(|w| w.deleted_ms.is_none()) {
        Some(webhook) => Ok(Claim::Made(id, Box::new(webhook))),
        None if !listed => take_over(state, ws, key, &used).await,
        None => Err(still_running_or_deleted()),
    }
}

/// The claim of a repeat whose first request's endpoint is not listed: when that request
/// was cut off before its listing (a minute past its claim, never listing), the key,
/// taken over, names a new endpoint to make, and what the first request left goes;
/// otherwise it is still running, or its endpoint was deleted (listing, it cannot be
/// told from a deleted one): a `409`, which never brings a deleted endpoint back.
async fn take_over(
    state: &ApiState,
    ws: &WorkspaceId,
    key: &IdempotencyKey,
    used: &KeyUse,
) -> Result<Claim, ApiError> {
    let now = state.clock.now();
    let cut_off = !used.listing && used.claimed.is_some_and(|at| abandoned(at, now));
    if !cut_off {
        return Err(still_running_or_deleted());
    }
    let (left, fresh) = (&used.first.endpoint, EndpointId::generate());
    if !(state.store)
        .take_over_idempotency(ws, key, (left, &fresh), now)
        .await?
    {
        // Another repeat took it over just now.
        return Err(still_running_or_deleted());
    }
    // Never listed, so never routed to; the request that made it can no longer list it
    // (its listing mark needs the record to name it).
    if let Err(e) = state.store.delete_endpoint_item(ws, left).await {
        tracing::warn!(workspace_id = %ws, error = %e, "cut-off create's item left");
    }
    tracing::info!(workspace_id = %ws, endpoint_id = %fresh, "cut-off create taken over");
    Ok(Claim::Make(fresh))
}

/// The `409` of a repeat whose first request is still running or whose endpoint was
/// deleted.
fn still_running_or_deleted() -> ApiError {
    ApiError::Conflict(
        "the first request with this Idempotency-Key is still running, or its endpoint \
         was deleted: retry in a minute, or use a new key",
    )
}

/// Whether a registered default endpoint is what `registrant`'s create made: marked so
/// (its URL may have changed since), or, unmarked (a save registered it, or it predates
/// the marks), with the URL asked for.
fn made_by(webhook: &Webhook, registrant: &str, url: &str) -> bool {
    match &webhook.registered_by {
        Some(by) => by == registrant,
        None => same_as_saved(url, &webhook.url),
    }
}

/// The endpoint's view: `201`, marked when an earlier request made it.
async fn answer<S>(
    state: &ApiState,
    owner: &WebhookOwner<S>,
    id: EndpointId,
    webhook: &Webhook,
    replayed: bool,
) -> Result<Response, ApiError> {
    let scope = owner.workspace.endpoint_scope(&id);
    let view: EndpointView = state
        .endpoint_view(id, &scope, webhook, &owner.grant)
        .await?;
    let mut response = (StatusCode::CREATED, NoStore(Json(view))).into_response();
    if replayed {
        let headers = response.headers_mut();
        headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// One endpoint being made.
struct Creation<'a> {
    state: &'a ApiState,
    ws: &'a WorkspaceId,
    id: &'a EndpointId,
    key: Option<&'a IdempotencyKey>,
}

impl Creation<'_> {
    /// Makes the endpoint: its item (an additional one's), its settings, its listing.
    /// Whatever fails before the listing leaves nothing half-made, and frees the key.
    /// `None`: the default endpoint, registered meanwhile by another request (nothing
    /// made).
    async fn make(&self, save: Save) -> Result<Option<Webhook>, ApiError> {
        let (state, ws, id) = (self.state, self.ws, self.id);
        if !id.is_default() {
            if let Err(e) = self.make_item(&save).await {
                self.forget_key().await;
                return Err(e);
            }
        }
        let scope = ws.endpoint_scope(id);
        let saved = match id.is_default() {
            true => register_settings(state, &scope, save, registrant(ws, self.key)).await,
            false => save_settings(state, &scope, save).await.map(Some),
        };
        let webhook = match saved {
            Ok(Some(webhook)) => webhook,
            Ok(None) => return Ok(None),
            Err(e) => {
                // Nothing half-made stays: an unlisted item is never routed to, but is
                // removed. Every refusal (4xx) of a save comes before its write; after a
                // failure the default's settings may be written, and a retry finds them.
                if !id.is_default() {
                    state.store.delete_endpoint_item(ws, id).await?;
                }
                if !id.is_default() || e.is_refusal() {
                    self.forget_key().await;
                }
                return Err(e);
            }
        };
        if !id.is_default() {
            self.list(&webhook).await?;
        }
        Ok(Some(webhook))
    }

    /// Checks an additional endpoint's settings and the limit, and writes its item.
    async fn make_item(&self, save: &Save) -> Result<(), ApiError> {
        let (state, ws, id) = (self.state, self.ws, self.id);
        only_the_default_may(id, save)?;
        let listed = state.store.endpoint_ids(ws).await?.len();
        if 1 + listed >= state.max_endpoints {
            return Err(state.endpoint_limit());
        }
        let now = state.clock.now();
        if !state.store.create_endpoint_item(ws, id, now).await? {
            return Err(ApiError::Unavailable("endpoint id taken; retry".into()));
        }
        Ok(())
    }

    /// Lists a new additional endpoint within the limit (else removes it, as if never
    /// made), then tells the owner: deliveries now go to one more URL (what a leaked key
    /// would do to copy them).
    async fn list(&self, webhook: &Webhook) -> Result<(), ApiError> {
        let (state, ws, id) = (self.state, self.ws, self.id);
        self.mark_listing().await?;
        let max_additional = state.max_endpoints - 1;
        let listed = match state.store.list_endpoint(ws, id, max_additional).await {
            Ok(listed) => listed,
            // Maybe listed all the same (an answer lost): removed only when it is not.
            Err(e) => {
                state.store.endpoint_ids(ws).await?.contains(id) || {
                    self.undo().await?;
                    return Err(e.into());
                }
            }
        };
        if !listed {
            self.undo().await?;
            return Err(state.endpoint_limit());
        }
        let endpoint = id.to_string();
        let notice = Notice::EndpointAdded {
            endpoint,
            url: webhook.url.clone(),
        };
        let scope = ws.endpoint_scope(id);
        state.notices.send(&scope, &notice, state.clock.now()).await;
        Ok(())
    }

    /// Marks the key's record as listing its endpoint, so a repeat never takes it over
    /// once the listing may be done. Not marked (a repeat took the key over: this
    /// request ran past its cut-off, or the mark failed), the endpoint is removed.
    async fn mark_listing(&self) -> Result<(), ApiError> {
        let Some(key) = self.key else {
            return Ok(());
        };
        let (state, ws, id) = (self.state, self.ws, self.id);
        let marked = match state.store.mark_listing(ws, key, id).await {
            Ok(marked) => marked,
            Err(e) => {
                self.undo().await?;
                return Err(e.into());
            }
        };
        if !marked {
            self.undo().await?;
            return Err(ApiError::Unavailable(
                "a retry with this Idempotency-Key took the create over; retry with it".into(),
            ));
        }
        Ok(())
    }

    /// Removes an additional endpoint that was not listed, and frees its key.
    async fn undo(&self) -> Result<(), ApiError> {
        self.state
            .store
            .delete_endpoint_item(self.ws, self.id)
            .await?;
        self.forget_key().await;
        Ok(())
    }

    /// Frees the key of a request that made nothing.
    async fn forget_key(&self) {
        if let Some(key) = self.key {
            forget_key(self.state, self.ws, key, self.id).await;
        }
    }
}

/// Frees `key` if it still names `id`, so a retry of a request that made nothing starts
/// afresh (best effort: a record left standing answers the retry with a `409` or a
/// `503`, never a copy).
async fn forget_key(state: &ApiState, ws: &WorkspaceId, key: &IdempotencyKey, id: &EndpointId) {
    if let Err(e) = state.store.forget_idempotency(ws, key, id).await {
        tracing::warn!(workspace_id = %ws, error = %e, "idempotency key not freed");
    }
}

impl ApiState {
    /// The refusal of an endpoint past the workspace's limit.
    pub(crate) fn endpoint_limit(&self) -> ApiError {
        ApiError::LimitReached {
            what: "endpoints",
            limit: self.max_endpoints,
        }
    }
}
