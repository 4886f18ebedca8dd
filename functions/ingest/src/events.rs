//! `POST /v1/events`: authenticate, parse everything, then apply (nothing is written on a
//! parse error).

use crate::pipeline::{ingest, IngestReport};
use crate::IngestState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use outflow::formats::parse_events;
use outflow::http::{require_workspace, ApiError, LimitedBody};
use outflow::telemetry::metrics;

/// Accepts one event or `{"events": [...]}`; answers 202 with per-event results.
pub async fn post_events(
    State(state): State<IngestState>,
    headers: HeaderMap,
    body: LimitedBody,
) -> Result<(StatusCode, Json<IngestReport>), ApiError> {
    let workspace = require_workspace(&state.store, &headers).await?;
    let events = parse_events(&body.0, &state.parse).inspect_err(|_| metrics::rejected(1))?;
    // Counted after parsing, so a malformed request costs a 400 and writes nothing.
    if let Err(over) = state
        .store
        .admit_request(&workspace, state.rate, &state.clock.now())
        .await?
    {
        tracing::info!(workspace_id = %workspace, "ingest throttled");
        metrics::rejected(events.len());
        return Err(ApiError::Throttled {
            limit: state.rate.requests,
            window_secs: state.rate.window_secs,
            retry_after_secs: over.retry_after_secs,
        });
    }
    let report = ingest(&state, &workspace, events).await?;
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
