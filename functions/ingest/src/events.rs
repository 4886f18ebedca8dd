//! `POST /v1/events`: parse everything (nothing is written on a parse error), then admit
//! the request — key, rate window and webhook settings in one update — then apply.

use crate::apply::ingest;
use crate::report::IngestReport;
use crate::IngestState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use outflow::domain::{ApiKey, Scope, WorkspaceId};
use outflow::formats::parse_events;
use outflow::formats::InvalidEvent;
use outflow::http::{ApiError, Deadline, ErrorBody, LimitedBody, PresentedKey, INVALID_KEY};
use outflow::store::Admission;
use outflow::telemetry::{self, metrics};

/// Accepts one event or `{"events": [...]}` (native or Chatwoot/liveDesk, up to 100, at
/// most 1 MiB); answers 202 with one result per event.
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    security(("tenant_key" = [])),
    request_body(
        content = Object,
        description = "One event or `{\"events\": [...]}`: the native message event (the \
                       outbound \"no aggregation\" payload) or a Chatwoot/liveDesk webhook body \
                       (message_created, message_updated, conversation_created, \
                       conversation_updated, conversation_status_changed). Limits: text 64 KiB; \
                       names, emails, phones 512 bytes; URLs 2 KiB; ids 128 bytes.",
        content_type = "application/json"
    ),
    responses(
        (status = 202, description = "Stored (or applied, skipped, found duplicate)", body = IngestReport),
        (status = 400, description = "A field is invalid or over a limit; nothing was written", body = ErrorBody),
        (status = 401, description = "Missing or invalid API key", body = ErrorBody),
        (status = 403, description = "The API key lacks the scope `events:write`", body = ErrorBody),
        (status = 413, description = "Body over 1 MiB", body = ErrorBody),
        (status = 429, description = "Over the workspace's request rate (Retry-After)", body = ErrorBody),
        (status = 503, description = "A backing service failed, or the request ran out of time; retry (safe: nothing is lost or sent twice)", body = ErrorBody),
    )
)]
pub async fn post_events(
    State(state): State<IngestState>,
    deadline: Option<Extension<Deadline>>,
    presented: PresentedKey,
    body: LimitedBody,
) -> Result<(StatusCode, Json<IngestReport>), ApiError> {
    let work = admit_and_apply(&state, presented, body);
    let Some(Extension(Deadline(by))) = deadline else {
        return work.await;
    };
    // Cut short, the request is safe to retry whole: deliveries are queued before their
    // messages are stored, so an event found stored again was queued.
    tokio::time::timeout_at(by.into(), work)
        .await
        .unwrap_or_else(|_| {
            tracing::warn!("ingest request stopped at its deadline");
            Err(ApiError::Unavailable(
                "the request ran out of time before it was complete; retry it: nothing is \
                 lost or sent twice (events already stored answer `duplicate`, and were queued)"
                    .into(),
            ))
        })
}

/// The answer to a body that does not parse: a caller without a valid key, or without
/// `events:write`, learns nothing about its body (401 or 403 before 400).
async fn refused_body(state: &IngestState, key: &ApiKey, invalid: InvalidEvent) -> ApiError {
    match state.store.authenticate(key).await {
        Err(e) => e.into(),
        Ok(None) => INVALID_KEY,
        Ok(Some((_, record))) if !record.grant.allows(Scope::EventsWrite) => {
            ApiError::MissingScope(Scope::EventsWrite)
        }
        Ok(Some(_)) => {
            metrics::rejected(1);
            invalid.into()
        }
    }
}

/// Parses, admits and applies one request.
async fn admit_and_apply(
    state: &IngestState,
    presented: PresentedKey,
    body: LimitedBody,
) -> Result<(StatusCode, Json<IngestReport>), ApiError> {
    let PresentedKey { key, workspace } = presented;
    let events = match parse_events(&body.0, &state.parse) {
        Ok(events) => events,
        Err(invalid) => return Err(refused_body(state, &key, invalid).await),
    };
    // Counted after parsing, so a malformed request costs a 400 and writes nothing.
    let now = state.clock.now();
    let admission = state
        .store
        .admit_ingest(&workspace, &key, state.rate, &now, &state.rate_windows)
        .await?;
    let (webhook, endpoint_ids) = match admission {
        Admission::Admitted { webhook, endpoints } => (webhook, endpoints),
        Admission::UnknownKey => return Err(INVALID_KEY),
        Admission::MissingScope(scope) => return Err(ApiError::MissingScope(scope)),
        Admission::Throttled(over) => {
            tracing::info!(workspace_id = %workspace, "ingest throttled");
            metrics::rejected(events.len());
            return Err(ApiError::Throttled {
                limit: state.rate.requests,
                window_secs: state.rate.window_secs,
                retry_after_secs: over.retry_after_secs,
            });
        }
    };
    if webhook
        .as_ref()
        .is_some_and(|w| w.owner_email_due.is_some())
    {
        // A disable's email SES refused then: this request sends it (once, under a lease).
        if let Err(e) = state.health.email_owner(&workspace, now).await {
            tracing::error!(workspace_id = %workspace, error = %e, "owed owner email");
        }
    }
    // One more read, only for a workspace with additional endpoints.
    let extra = state.store.endpoints(&workspace, &endpoint_ids).await?;
    let report = ingest(state, &workspace, events, webhook.as_deref(), &extra).await?;
    metrics::ingested(report.accepted, report.duplicates);
    log_ingested(&workspace, &report);
    Ok((StatusCode::ACCEPTED, Json(report)))
}

/// The request's record: on its metric document, which is written anyway (one line per
/// request), or as a line of its own when it counted nothing.
fn log_ingested(workspace: &WorkspaceId, report: &IngestReport) {
    let fields = serde_json::json!({
        "workspace_id": workspace.as_str(),
        "accepted": report.accepted,
        "duplicates": report.duplicates,
        "skipped": report.skipped,
    });
    if !telemetry::info_with_metrics("events ingested", fields) {
        tracing::info!(
            workspace_id = %workspace,
            accepted = report.accepted,
            duplicates = report.duplicates,
            skipped = report.skipped,
            "events ingested"
        );
    }
}
