//! `POST /v1/events`: parse everything (nothing is written on a parse error), then admit
//! the request — key, rate window and webhook settings in one update — then apply.

use crate::pipeline::{ingest, IngestReport};
use crate::IngestState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use outflow::formats::parse_events;
use outflow::http::{presented_key, ApiError, LimitedBody, INVALID_KEY};
use outflow::store::Admission;
use outflow::telemetry::metrics;

/// Accepts one event or `{"events": [...]}`; answers 202 with per-event results.
pub async fn post_events(
    State(state): State<IngestState>,
    headers: HeaderMap,
    body: LimitedBody,
) -> Result<(StatusCode, Json<IngestReport>), ApiError> {
    let (key, workspace) = presented_key(&headers)?;
    let events = match parse_events(&body.0, &state.parse) {
        Ok(events) => events,
        Err(invalid) => {
            // A caller without a valid key learns nothing about its body: 401 before 400.
            if state.store.authenticate(&key).await?.is_none() {
                return Err(INVALID_KEY);
            }
            metrics::rejected(1);
            return Err(invalid.into());
        }
    };
    // Counted after parsing, so a malformed request costs a 400 and writes nothing.
    let admission = state
        .store
        .admit_ingest(
            &workspace,
            &key,
            state.rate,
            &state.clock.now(),
            &state.rate_windows,
        )
        .await?;
    let webhook = match admission {
        Admission::Admitted(webhook) => webhook,
        Admission::UnknownKey => return Err(INVALID_KEY),
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
    let report = ingest(&state, &workspace, events, webhook.as_ref()).await?;
    metrics::ingested(report.accepted, report.duplicates);
    tracing::info!(
        workspace_id = %workspace,
        accepted = report.accepted,
        duplicates = report.duplicates,
        skipped = report.skipped,
        "events ingested"
    );
    Ok((StatusCode::ACCEPTED, Json(report)))
}
