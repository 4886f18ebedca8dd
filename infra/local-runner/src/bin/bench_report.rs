//! The benchmark table of issue #6: collects what `make bench` measured (criterion's
//! estimates and the JSON the bench binaries leave in target/outflow-bench) and prints
//! each figure next to its target, with the aggregator's scale runs of the last
//! `make measure` when there are some.
//!
//!   outflow-bench-report

use outflow_local::bench::{results_dir, target_dir};
use serde_json::Value;
use std::path::Path;

fn read(path: &Path) -> Option<Value> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// Criterion's median for one benchmark, in nanoseconds.
fn criterion_ns(group: &str, name: &str) -> Option<f64> {
    let path = target_dir()
        .join("criterion")
        .join(group)
        .join(name)
        .join("new/estimates.json");
    read(&path)?["median"]["point_estimate"].as_f64()
}

fn result(name: &str) -> Option<Value> {
    read(&results_dir().join(format!("{name}.json")))
}

/// One row: what, the measured figure, the target, and whether it is met.
struct Row {
    what: String,
    measured: Option<String>,
    target: &'static str,
    met: Option<bool>,
}

fn row(what: impl Into<String>, value: Option<(String, bool)>, target: &'static str) -> Row {
    Row {
        what: what.into(),
        measured: value.as_ref().map(|(v, _)| v.clone()),
        target,
        met: value.map(|(_, ok)| ok),
    }
}

/// AWS requests per 1,000 messages.
fn request_rows(rows: &mut Vec<Row>) {
    let requests = result("requests");
    for (mode, target, limit) in [
        ("immediate", "≤ 1,500", 1500.0),
        ("aggregated", "≤ 150", 150.0),
    ] {
        let per_1000 = requests.as_ref().and_then(|r| r[mode]["per_1000"].as_f64());
        rows.push(row(
            format!("AWS requests per 1,000 messages, {mode}"),
            per_1000.map(|v| (format!("{v:.0}"), v <= limit)),
            target,
        ));
    }
    // Fan-out: each extra endpoint costs at most what a workspace of its own would (the
    // message is stored and admitted once).
    let per_1000 = |mode: &str| requests.as_ref().and_then(|r| r[mode]["per_1000"].as_f64());
    let (hourly, immediate) = (per_1000("aggregated"), per_1000("immediate"));
    let three = per_1000("three_endpoints").zip(hourly.zip(immediate).map(|(h, i)| 2.0 * h + i));
    rows.push(row(
        "AWS requests per 1,000 messages, three endpoints (default 1h, 1h, immediate)",
        three.map(|(v, limit)| (format!("{v:.0}"), v <= limit)),
        "≤ 2 × 1h + immediate",
    ));
    // What each extra endpoint adds, from the two three-endpoint mixes: an immediate one
    // from (1h, immediate, immediate), a 1h one from (1h, 1h, immediate).
    let extra_immediate = per_1000("three_endpoints_two_immediate")
        .zip(hourly)
        .map(|(t, h)| (t - h) / 2.0);
    let extra_hourly = per_1000("three_endpoints")
        .zip(hourly)
        .zip(extra_immediate)
        .map(|((t, h), i)| t - h - i);
    // Shown beside what a workspace of its own costs, not judged: the settings read of the
    // other endpoints per ingest request is shared by all of them.
    for (what, extra, alone) in [
        ("immediate", extra_immediate, immediate),
        ("1h", extra_hourly, hourly),
    ] {
        let mut figure = row(
            format!("AWS requests per 1,000 messages, per extra {what} endpoint"),
            extra
                .zip(alone)
                .map(|(v, a)| (format!("{v:.0} (alone: {a:.0})"), true)),
            "the fan-out's cost",
        );
        figure.met = None;
        rows.push(figure);
    }
}

/// The delivery engine against wrk.
fn engine_rows(rows: &mut Vec<Row>) {
    let throughput = result("throughput");
    let share = throughput.as_ref().and_then(|t| {
        Some((
            t["engine_per_second"].as_f64()?,
            t["wrk_per_second"].as_f64()?,
            t["share_of_wrk_percent"].as_f64()?,
        ))
    });
    rows.push(row(
        "delivery engine, deliveries/s (wrk raw POST/s)",
        share
            .map(|(engine, wrk, pct)| (format!("{engine:.0} ({wrk:.0}): {pct:.0} %"), pct >= 50.0)),
        "≥ 50 % of wrk",
    ));
    let added = throughput.as_ref().and_then(|t| {
        Some((
            t["engine_p50_ms"].as_f64()? - t["wrk_p50_ms"].as_f64()?,
            t["engine_p99_ms"].as_f64()? - t["wrk_p99_ms"].as_f64()?,
        ))
    });
    rows.push(Row {
        what: "latency added by the engine, p50 / p99".into(),
        measured: added.map(|(p50, p99)| format!("{p50:.3} / {p99:.3} ms")),
        target: "reported",
        met: None,
    });
}

/// CPU per message: parsing, rendering, signing (criterion).
fn cpu_rows(rows: &mut Vec<Row>) {
    for (name, what) in [
        (
            "chatwoot_message_created",
            "parse a Chatwoot message_created",
        ),
        ("native_message", "parse a native event"),
    ] {
        let rate = criterion_ns("parse", name).map(|ns| 1e9 / ns);
        rows.push(row(
            format!("{what}, events/s on one core"),
            rate.map(|r| (format!("{r:.0}"), r >= 100_000.0)),
            "≥ 100,000",
        ));
    }
    let render = criterion_ns("bundle", "render_1000_messages").map(|ns| ns / 1e6);
    rows.push(row(
        "render a 1,000-message bundle (HTML digest + JSON)",
        render.map(|ms| (format!("{ms:.3} ms"), ms <= 2.0)),
        "≤ 2 ms",
    ));
    let sign = criterion_ns("sign", "sign_10kb").map(|ns| ns / 1e3);
    rows.push(Row {
        what: "sign a 10 KB body".into(),
        measured: sign.map(|us| format!("{us:.1} µs")),
        target: "reported",
        met: None,
    });
}

/// Each Lambda's init time, zip size and (for ingest and sender) peak RSS.
fn footprint_rows(rows: &mut Vec<Row>) {
    let rss = result("rss");
    let functions = result("footprint")
        .and_then(|f| f["functions"].as_array().cloned())
        .unwrap_or_default();
    for f in &functions {
        let name = f["function"].as_str().unwrap_or("?");
        // A quick build (smoke-zips profile, or CI's debug build) is larger and slower than a
        // release: its figures are shown, not judged.
        let smoke = f["smoke_build"].as_bool().unwrap_or(false);
        let init = f["init_p50_ms"].as_f64();
        let mut init_row = row(
            format!(
                "{name}: init p50{}",
                if smoke { " (quick build)" } else { "" }
            ),
            init.map(|ms| (format!("{ms:.1} ms"), ms <= 40.0)),
            "≤ 40 ms",
        );
        if smoke {
            init_row.met = None;
        }
        rows.push(init_row);
        let zip = f["zip_kib"].as_f64();
        let mut zip_row = row(
            format!("{name}: zip{}", if smoke { " (quick build)" } else { "" }),
            zip.map(|kib| (format!("{:.2} MB", kib * 1024.0 / 1e6), kib * 1024.0 <= 8e6)),
            "≤ 8 MB",
        );
        if smoke {
            zip_row.met = None;
        }
        rows.push(zip_row);
        // Measured for the functions that take batches (ingest, sender).
        let Some(kib) = rss.as_ref().and_then(|r| r[name].as_f64()) else {
            continue;
        };
        let peak = (
            format!("{:.1} MB", kib * 1024.0 / 1e6),
            kib * 1024.0 <= 48e6,
        );
        rows.push(row(
            format!("{name}: peak RSS handling a batch of 10"),
            Some(peak),
            "≤ 48 MB",
        ));
    }
    if functions.is_empty() {
        rows.push(row("Lambda init, zip and RSS", None, "see make footprint"));
    }
}

/// The aggregator's scale runs of the last `make measure`.
fn scale_rows(rows: &mut Vec<Row>) {
    let runs = result("scale")
        .and_then(|s| s.as_array().cloned())
        .unwrap_or_default();
    for run in &runs {
        let figure = |name: &str| run[name].as_f64().unwrap_or_default();
        rows.push(Row {
            what: format!(
                "aggregator, {} pending chats ({} not due): requests / items read per window \
                 (last `make measure`)",
                run["pending_chats"], run["not_due_chats"]
            ),
            measured: Some(format!(
                "{:.3} / {:.2} ({:.1} s)",
                figure("requests_per_window"),
                figure("items_read_per_window"),
                figure("aggregator_seconds")
            )),
            target: "linear in pending chats",
            met: None,
        });
    }
}

/// The messages of a cost run over fewer than the workload's 1,000 (`make bench-smoke`'s).
fn smoke_messages(cost: &Value) -> Option<u64> {
    cost["messages"].as_u64().filter(|&n| n != 1000)
}

/// AWS's bill per million messages (target, and where the money goes), from the cost run.
fn cost_rows(rows: &mut Vec<Row>) {
    let cost = result("cost");
    let scenario = |name: &str| -> Option<Value> {
        cost.as_ref()?["scenarios"]
            .as_array()?
            .iter()
            .find(|s| s["scenario"] == name)
            .cloned()
    };
    let quick = cost.as_ref().is_some_and(|c| c["quick_build"] == true);
    // A smoke run only checks that the meter works: shown, not judged.
    let smoke = cost.as_ref().and_then(smoke_messages);
    let mut notes = Vec::new();
    notes.extend(smoke.map(|n| format!("{n} messages: a smoke run")));
    notes.extend(quick.then(|| "debug binaries".to_string()));
    let note = if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join(", "))
    };
    for (name, target, limit) in [
        ("immediate", "≤ $1.20", Some(1.20)),
        ("1h aggregation", "≤ $0.60", Some(0.60)),
        ("three endpoints (1h, 1h, immediate)", "reported", None),
    ] {
        let found = scenario(name);
        let total = found.as_ref().and_then(|s| s["total"].as_f64());
        let mut figure = row(
            format!("AWS cost per million messages, {name}"),
            total.map(|t| (format!("${t:.2}{note}"), limit.is_none_or(|l| t <= l))),
            target,
        );
        if limit.is_none() || smoke.is_some() {
            figure.met = None;
        }
        rows.push(figure);
        let components = found
            .as_ref()
            .and_then(|s| s["components"].as_array().cloned());
        for c in components.unwrap_or_default() {
            let mut part = row(
                format!("· {name}: {}", c["component"].as_str().unwrap_or("?")),
                c["dollars"].as_f64().map(|d| (format!("${d:.3}"), true)),
                "where the money goes",
            );
            part.met = None;
            rows.push(part);
        }
    }
}

fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    cost_rows(&mut rows);
    request_rows(&mut rows);
    engine_rows(&mut rows);
    cpu_rows(&mut rows);
    footprint_rows(&mut rows);
    scale_rows(&mut rows);
    rows
}

const TABLE_START: &str = "<!-- cost-table:start (generated by `make bench`: outflow-bench-report --write-cost-table) -->";
const TABLE_END: &str = "<!-- cost-table:end -->";

/// The cost run as a Markdown table: a column per scenario, a row per component.
fn cost_table(cost: &Value) -> Option<String> {
    let scenarios = cost["scenarios"].as_array()?;
    let mut out = String::from("| $ per million messages |");
    for s in scenarios {
        out += &format!(" {} |", s["scenario"].as_str()?);
    }
    out += &format!("\n|---|{}\n", "---:|".repeat(scenarios.len()));
    let components = scenarios.first()?["components"].as_array()?;
    for (i, c) in components.iter().enumerate() {
        out += &format!("| {} |", c["component"].as_str()?);
        for s in scenarios {
            out += &format!(" {:.3} |", s["components"][i]["dollars"].as_f64()?);
        }
        out += "\n";
    }
    out += "| **total** |";
    for s in scenarios {
        out += &format!(" **{:.2}** |", s["total"].as_f64()?);
    }
    let prices = &cost["prices"];
    out += &format!(
        "\n\nPrices: `infra/prices.json` ({}; checked {}).",
        prices["source"].as_str()?,
        prices["checked"].as_str()?
    );
    Some(out)
}

/// Replaces the generated table between its markers in `path` with the last cost run.
fn write_cost_table(path: &str) -> Result<(), String> {
    let cost = result("cost").ok_or("no cost run: run `make measure` or `make bench` first")?;
    if smoke_messages(&cost).is_some() {
        return Err(
            "the last cost run was a smoke run (not 1,000 messages): run `make cost`".into(),
        );
    }
    let table = cost_table(&cost).ok_or("the cost run's figures are incomplete")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let (start, end) = text
        .find(TABLE_START)
        .zip(text.find(TABLE_END))
        .ok_or(format!("{path} has no cost-table markers"))?;
    let new = format!("{}{TABLE_START}\n{table}\n{}", &text[..start], &text[end..]);
    std::fs::write(path, new).map_err(|e| format!("{path}: {e}"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write-cost-table") {
        let path = args.get(i + 1).map_or("docs/deploy.md", String::as_str);
        if let Err(e) = write_cost_table(path) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    println!("| benchmark | measured | target | met |");
    println!("|---|---:|---|---|");
    for r in rows() {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        println!(
            "| {} | {} | {} | {met} |",
            r.what,
            r.measured.as_deref().unwrap_or("not run"),
            r.target
        );
    }
}
