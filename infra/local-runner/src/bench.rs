//! What the benchmark binaries share: where results go, and percentiles.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The workspace's target directory (honours CARGO_TARGET_DIR).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

/// A function's deployable binary and its zip, if built (`make lambda-zips`: cargo-lambda's
/// zip holds the binary it built for the target triple; `make smoke-zips` the same in its
/// quick profile); else the plain release build. The newest build wins: it made the zip.
pub fn lambda_artifacts(name: &str) -> (PathBuf, Option<PathBuf>) {
    let zip = target_dir().join("lambda").join(name).join("bootstrap.zip");
    let candidates = [
        "x86_64-unknown-linux-gnu/release",
        "x86_64-unknown-linux-gnu/smoke-zips",
        "release",
        // CI's workspace build: it starts the same code; its figures are shown, not judged.
        "debug",
    ]
    .map(|dir| target_dir().join(dir).join(name));
    let modified = |p: &PathBuf| p.metadata().and_then(|m| m.modified()).ok();
    // None built: the first, which the "not built" error then names.
    let binary = candidates
        .iter()
        .filter(|p| p.is_file())
        .max_by_key(|p| modified(p))
        .unwrap_or(&candidates[0])
        .clone();
    (binary, zip.is_file().then_some(zip))
}

/// Where each benchmark leaves its figures as JSON, for `outflow-bench-report`.
pub fn results_dir() -> PathBuf {
    target_dir().join("outflow-bench")
}

/// Writes one benchmark's figures to `target/outflow-bench/<name>.json`.
pub fn write_result(name: &str, figures: &serde_json::Value) -> std::io::Result<PathBuf> {
    let dir = results_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(figures)?)?;
    Ok(path)
}

/// The `p` quantile (0..=1) of sorted durations, in milliseconds (nearest rank).
pub fn percentile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile_ms(&sorted, 0.5), 51.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 99.0);
        assert_eq!(percentile_ms(&sorted, 1.0), 100.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }
}
