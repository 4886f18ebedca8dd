//! template.yaml and the local stack define the same table and queues, and the deployed
//! template never allows loopback targets.

use outflow::queue::spec;
use outflow::store::schema;
use outflow::telemetry::{metrics, NAMESPACE};
use serde_norway::Value;

pub(crate) fn template() -> Value {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn resource<'a>(t: &'a Value, name: &str) -> &'a Value {
    &t["Resources"][name]["Properties"]
}

#[test]
fn the_table_matches_the_schema_the_local_stack_creates() {
    let t = template();
    let table = resource(&t, "Table");
    assert_eq!(table["BillingMode"], Value::from("PAY_PER_REQUEST"));
    let keys: Vec<(String, String)> = table["KeySchema"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["AttributeName"].as_str().unwrap().into(),
                k["KeyType"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        keys,
        [
            (schema::PARTITION_KEY.to_string(), "HASH".to_string()),
            (schema::SORT_KEY.to_string(), "RANGE".to_string())
        ]
    );
    let attrs: Vec<&str> = table["AttributeDefinitions"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a["AttributeName"].as_str().unwrap())
        .collect();
    let mut expected = vec![schema::PARTITION_KEY, schema::SORT_KEY];
    for index in schema::INDEXES {
        expected.extend([index.partition_key, index.sort_key]);
    }
    assert_eq!(attrs, expected);
    let indexes: Vec<(String, String, String, String)> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| {
            let keys = i["KeySchema"].as_sequence().unwrap();
            (
                i["IndexName"].as_str().unwrap().to_string(),
                keys[0]["AttributeName"].as_str().unwrap().to_string(),
                keys[1]["AttributeName"].as_str().unwrap().to_string(),
                i["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String, String)> = schema::INDEXES
        .iter()
        .map(|i| {
            (
                i.name.into(),
                i.partition_key.into(),
                i.sort_key.into(),
                "ALL".into(),
            )
        })
        .collect();
    assert_eq!(indexes, expected);
    assert_eq!(
        table["TimeToLiveSpecification"]["AttributeName"],
        Value::from(schema::TTL_ATTRIBUTE)
    );
    assert_eq!(
        table["TimeToLiveSpecification"]["Enabled"],
        Value::from(true)
    );
}

#[test]
fn the_queues_match_the_local_stack() {
    let t = template();
    let queue = resource(&t, "DeliveryQueue");
    assert_eq!(
        queue["VisibilityTimeout"].as_u64(),
        Some(spec::VISIBILITY_TIMEOUT_SECS.into())
    );
    assert_eq!(
        queue["RedrivePolicy"]["maxReceiveCount"].as_u64(),
        Some(spec::MAX_RECEIVE_COUNT.into())
    );
    assert_eq!(
        queue["MessageRetentionPeriod"].as_u64(),
        Some(spec::RETENTION_SECS.into()),
        "deliveries waiting behind a failing one do not expire after SQS's default 4 days"
    );
    assert_eq!(queue["FifoQueue"].as_bool(), Some(spec::FIFO));
    assert_eq!(
        queue["DeduplicationScope"].as_str(),
        Some(spec::DEDUPLICATION_SCOPE)
    );
    assert_eq!(
        queue["FifoThroughputLimit"].as_str(),
        Some(spec::FIFO_THROUGHPUT_LIMIT)
    );
    let dlq = resource(&t, "DeliveryDeadLetterQueue");
    assert_eq!(dlq["FifoQueue"].as_bool(), Some(spec::FIFO));
    assert_eq!(
        dlq["MessageRetentionPeriod"].as_u64(),
        Some(spec::DLQ_RETENTION_SECS.into())
    );
    let sender = resource(&t, "SenderFunction");
    assert_eq!(
        sender["Events"]["Deliveries"]["Properties"]["FunctionResponseTypes"][0],
        Value::from("ReportBatchItemFailures")
    );
    // Visibility must cover the sender's whole run (AWS recommends 6x the function timeout).
    assert!(spec::VISIBILITY_TIMEOUT_SECS >= 6 * sender["Timeout"].as_u64().unwrap() as u32);
}

#[test]
fn the_aggregator_runs_on_a_schedule_with_the_event_time() {
    let t = template();
    let schedule = &resource(&t, "AggregatorFunction")["Events"]["Schedule"];
    assert_eq!(schedule["Type"], Value::from("ScheduleV2"));
    assert!(schedule["Properties"]["Input"]
        .as_str()
        .unwrap()
        .contains("<aws.scheduler.scheduled-time>"));
    let tick: outflow_aggregator::ScheduledTick = serde_json::from_str(
        &schedule["Properties"]["Input"]
            .as_str()
            .unwrap()
            .replace("<aws.scheduler.scheduled-time>", "2026-01-21T05:00:00Z"),
    )
    .unwrap();
    let clock = outflow::clock::Clock::system();
    assert_eq!(tick.now(&clock).to_rfc3339(), "2026-01-21T05:00:00+00:00");
}

#[test]
fn every_function_is_a_rust_lambda_and_loopback_is_never_allowed() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml")).unwrap();
    assert!(!text.contains("OUTFLOW_ALLOW_LOOPBACK_TARGETS"));
    let t = template();
    assert_eq!(
        t["Globals"]["Function"]["Runtime"],
        Value::from("provided.al2023")
    );
    assert_eq!(t["Parameters"]["AdminToken"]["NoEcho"], Value::from(true));
    for name in [
        "IngestFunction",
        "ApiFunction",
        "SenderFunction",
        "AggregatorFunction",
    ] {
        assert_eq!(
            t["Resources"][name]["Metadata"]["BuildMethod"],
            Value::from("rust-cargolambda"),
            "{name}"
        );
        let binary = t["Resources"][name]["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap();
        let crate_dir = binary.trim_start_matches("outflow-");
        let main = format!(
            "{}/../functions/{crate_dir}/src/main.rs",
            env!("CARGO_MANIFEST_DIR")
        );
        assert!(
            std::path::Path::new(&main).exists(),
            "{name} builds {binary} from {main}"
        );
    }
}

/// The properties of every alarm in the template.
fn alarms(t: &Value) -> Vec<&Value> {
    t["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .map(|r| &r["Properties"])
        .collect()
}

#[test]
fn every_function_and_both_queues_are_watched_by_alarms_that_notify_the_topic() {
    let t = template();
    let text = |v: &Value| serde_norway::to_string(v).unwrap();
    let resources = t["Resources"].as_mapping().unwrap();
    let alarms = alarms(&t);
    let watched = |name: &str, metric: &str| {
        alarms
            .iter()
            .any(|a| a["MetricName"] == metric && text(&a["Dimensions"][0]["Value"]).contains(name))
    };
    for (name, r) in resources {
        if r["Type"] == "AWS::Serverless::Function" {
            let name = name.as_str().unwrap();
            assert!(watched(name, "Errors"), "no Errors alarm on {name}");
        }
    }
    assert!(watched(
        "DeliveryDeadLetterQueue",
        "ApproximateNumberOfMessagesVisible"
    ));
    assert!(watched("DeliveryQueue", "ApproximateAgeOfOldestMessage"));
    // The two alarms on the Outflow metrics the sender emits.
    let failure_rate = text(resource(&t, "DeliveryFailureRateAlarm"));
    for metric in [metrics::DELIVERIES_FAILED, metrics::DELIVERIES_SUCCEEDED] {
        assert!(
            failure_rate.contains(metric),
            "failure rate without {metric}"
        );
    }
    assert_eq!(
        resource(&t, "WebhooksDisabledAlarm")["MetricName"],
        Value::from(metrics::WEBHOOKS_DISABLED)
    );
    // Windows left due: one passing throttle is retried by the next run, so the alarm waits
    // for two 15-minute periods in a row, each long enough to hold a run at the default
    // schedule and at one every 15 minutes.
    let left_due = resource(&t, "WindowsLeftDueAlarm");
    assert_eq!(
        left_due["MetricName"],
        Value::from(metrics::WINDOWS_LEFT_DUE)
    );
    assert_eq!(
        left_due["Dimensions"][1]["Value"],
        Value::from("aggregator")
    );
    assert_eq!(left_due["Statistic"], Value::from("Sum"));
    assert_eq!(left_due["Threshold"], Value::from(0));
    assert_eq!(
        left_due["ComparisonOperator"],
        Value::from("GreaterThanThreshold")
    );
    assert_eq!(left_due["Period"], Value::from(900));
    assert_eq!(left_due["EvaluationPeriods"], Value::from(2));
    assert_eq!(left_due["DatapointsToAlarm"], Value::from(2));
    // The dashboard's alarm widget shows every alarm.
    let Value::Tagged(body) = &resource(&t, "Dashboard")["DashboardBody"] else {
        panic!("the dashboard body is not a !Sub");
    };
    let body = body.value.as_str().unwrap();
    for (name, r) in resources {
        if r["Type"] == "AWS::CloudWatch::Alarm" {
            let arn = format!("${{{}.Arn}}", name.as_str().unwrap());
            assert!(body.contains(&arn), "the dashboard does not show {arn}");
        }
    }
    for a in &alarms {
        assert!(
            text(&a["AlarmActions"]).contains("AlarmTopic"),
            "alarm without the topic: {}",
            text(a)
        );
    }
}

/// Every `[namespace, name, dim, value, ...]` row of the dashboard, its `${...}` references
/// replaced so the body parses as the JSON CloudWatch receives.
fn dashboard_rows() -> Vec<Vec<serde_json::Value>> {
    let t = template();
    let Value::Tagged(sub) = &resource(&t, "Dashboard")["DashboardBody"] else {
        panic!("the dashboard body is not a !Sub");
    };
    let body = sub.value.as_str().expect("a !Sub string").to_string();
    let mut plain = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        plain.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closed ${") + start;
        plain.push_str("ref");
        rest = &rest[end + 1..];
    }
    plain.push_str(rest);
    let body: serde_json::Value = serde_json::from_str(&plain).expect("dashboard JSON");
    body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|w| w["properties"]["metrics"].as_array())
        .flatten()
        .map(|row| row.as_array().unwrap().clone())
        .collect()
}

#[test]
fn the_dashboard_and_alarms_name_only_metrics_the_functions_emit() {
    let emitted: Vec<&str> = metrics::COUNTERS
        .iter()
        .copied()
        .chain([metrics::DELIVERY_LATENCY])
        .collect();
    let rows = dashboard_rows();
    let ours: Vec<&Vec<serde_json::Value>> = rows.iter().filter(|r| r[0] == NAMESPACE).collect();
    for row in &ours {
        let name = row[1].as_str().unwrap();
        assert!(
            emitted.contains(&name),
            "the dashboard shows {name}, never emitted"
        );
        // The functions' dimension set, exactly (CloudWatch matches it exactly).
        assert_eq!(row[2], "Stack");
        assert_eq!(row[4], "Function");
        if name == metrics::DELIVERY_FAILURES_BY_KIND {
            assert_eq!(row[6], metrics::FAILURE_KIND);
        }
    }
    let kinds: Vec<&str> = ours
        .iter()
        .filter(|r| r[1] == metrics::DELIVERY_FAILURES_BY_KIND)
        .filter_map(|r| r[7].as_str())
        .collect();
    let every_kind: Vec<&str> = outflow::domain::FailureKind::ALL
        .iter()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(kinds, every_kind, "one line per failure kind");
    for name in &emitted {
        assert!(
            ours.iter().any(|r| r[1] == *name),
            "{name} is emitted but not on the dashboard"
        );
    }
    let latency: Vec<&str> = ours
        .iter()
        .filter(|r| r[1] == metrics::DELIVERY_LATENCY)
        .filter_map(|r| r.last().unwrap()["stat"].as_str())
        .collect();
    assert_eq!(latency, ["p50", "p90", "p99"]);

    // Alarms: a plain metric, or the metrics of a metric-math expression.
    let t = template();
    let mut watched = Vec::new();
    for p in alarms(&t) {
        let stats = p["Metrics"].as_sequence().cloned().unwrap_or_default();
        let metrics = std::iter::once(p.clone())
            .chain(stats.iter().map(|m| m["MetricStat"]["Metric"].clone()));
        for m in metrics.filter(|m| m["Namespace"] == NAMESPACE) {
            let name = m["MetricName"].as_str().unwrap().to_string();
            assert!(
                emitted.contains(&name.as_str()),
                "an alarm watches {name}, never emitted"
            );
            let dims: Vec<&str> = m["Dimensions"]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|d| d["Name"].as_str().unwrap())
                .collect();
            assert_eq!(dims, ["Stack", "Function"], "{name}");
            watched.push(name);
        }
    }
    assert!(watched.len() >= 3, "{watched:?}");
}

#[test]
fn capacity_is_reserved_for_ingest_and_the_api_and_capped_for_the_sender() {
    let t = template();
    let parameter = |name: &str| t["Parameters"][name]["Default"].as_u64().unwrap();
    let reserved = |function: &str| {
        let value = &resource(&t, function)["ReservedConcurrentExecutions"];
        // A parameter reference, or a number.
        value.as_u64().or_else(|| {
            let name = serde_norway::to_string(value).unwrap();
            let name = name.trim().trim_start_matches("!Ref").trim();
            t["Parameters"][name]["Default"].as_u64()
        })
    };
    assert_eq!(
        reserved("IngestFunction"),
        Some(parameter("IngestReservedConcurrency"))
    );
    assert_eq!(
        reserved("ApiFunction"),
        Some(parameter("ApiReservedConcurrency"))
    );
    assert_eq!(reserved("AggregatorFunction"), Some(1));
    let scaling = &resource(&t, "SenderFunction")["Events"]["Deliveries"]["Properties"]
        ["ScalingConfig"]["MaximumConcurrency"];
    assert!(!scaling.is_null(), "the sender's event source is capped");
    // A slow workspace holds a share of the sender, not all of it.
    let env = &resource(&t, "SenderFunction")["Environment"]["Variables"];
    assert!(!env["OUTFLOW_SENDER_SHARE"].is_null());
    assert!(
        parameter("SenderSharePerWorkspace") * 5 <= parameter("SenderMaxConcurrency"),
        "a slow tenant takes at most a fifth of the sender"
    );
    // The reserved and capped functions leave most of an account's default 1,000.
    let total = parameter("IngestReservedConcurrency")
        + parameter("ApiReservedConcurrency")
        + 1
        + parameter("SenderMaxConcurrency");
    assert!(total <= 500, "{total}");
}

#[test]
fn a_create_counts_as_cut_off_only_well_after_the_api_function_times_out() {
    let t = template();
    let own = &resource(&t, "ApiFunction")["Timeout"];
    let timeout = match own.is_null() {
        true => &t["Globals"]["Function"]["Timeout"],
        false => own,
    };
    let timeout = timeout
        .as_i64()
        .expect("the api's timeout is a number of seconds");
    // A repeat takes over a key whose request is over: at least twice its timeout.
    assert!(outflow::domain::ABANDONED_AFTER_MS >= 2 * 1_000 * timeout);
}
