//! Property-based fuzzing of the inbound parsers (proptest): arbitrary bytes, arbitrary
//! JSON, and the real fixtures with one field replaced by anything. The parser must never
//! panic, every rejection must name a field, and whatever the fast path accepts the
//! checked path must accept with the same events. Bounded for CI (`PROPTEST_CASES`
//! raises it; `make fuzz` runs 100,000 cases per property).

use outflow::formats::ParseContext;
use outflow::formats::{parse_events, parse_events_checked, parse_events_fast};
use proptest::prelude::*;
use serde_json::{json, Value};

const FIXTURES: [&str; 7] = [
    include_str!("../../../shared/fixtures/timelines_message_example.json"),
    include_str!("../../../shared/fixtures/livedesk_message_created.json"),
    include_str!("../../../shared/fixtures/livedesk_conversation_created.json"),
    include_str!("../../tests/fixtures/native_chat_created.json"),
    include_str!("../../tests/fixtures/native_chat_assigned.json"),
    include_str!("../../tests/fixtures/native_chat_closed.json"),
    include_str!("../../tests/fixtures/native_message_updated.json"),
];

fn ctx() -> ParseContext {
    ParseContext {
        chat_url_base: "https://app.chatwoot.com".into(),
    }
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3_000)
}

/// Any JSON value, a few levels deep, with the kinds of scalars that trip parsers.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::from),
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[+-][0-9]{4}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(".{0,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every path (as keys/indexes) inside a JSON value.
fn paths(value: &Value, at: Vec<PathStep>, out: &mut Vec<Vec<PathStep>>) {
    out.push(at.clone());
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let mut next = at.clone();
                next.push(PathStep::Key(k.clone()));
                paths(v, next, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let mut next = at.clone();
                next.push(PathStep::Index(i));
                paths(v, next, out);
            }
        }
        _ => {}
    }
}

#[derive(Debug, Clone)]
enum PathStep {
    Key(String),
    Index(usize),
}

fn replace(value: &mut Value, path: &[PathStep], with: Value) {
    let mut here = value;
    for step in path {
        here = match step {
            PathStep::Key(k) => &mut here[k.as_str()],
            PathStep::Index(i) => &mut here[*i],
        };
    }
    *here = with;
}

fn check(body: &[u8]) {
    match parse_events(body, &ctx()) {
        Ok(events) => assert!(!events.is_empty()),
        Err(e) => {
            assert!(!e.field.is_empty(), "rejection without a field: {e:?}");
            assert!(!e.message.is_empty(), "rejection without a reason: {e:?}");
        }
    }
}

/// `check`, and the fast path agrees with the checked path: it may leave a body to the
/// checked path, but what it accepts is exactly what the checked path makes of it.
fn check_agrees(body: &[u8]) {
    check(body);
    if let Some(fast) = parse_events_fast(body, &ctx()) {
        assert_eq!(
            Ok(fast),
            parse_events_checked(body, &ctx()),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        check(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(value in any_json()) {
        check_agrees(value.to_string().as_bytes());
        check_agrees(json!({ "events": [value] }).to_string().as_bytes());
    }

    #[test]
    fn a_fixture_with_any_field_replaced_never_panics(
        fixture in 0..FIXTURES.len(),
        pick in any::<prop::sample::Index>(),
        with in any_json(),
    ) {
        let mut value: Value = serde_json::from_str(FIXTURES[fixture]).unwrap();
        let mut all = Vec::new();
        paths(&value, Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        replace(&mut value, &path, with);
        check_agrees(value.to_string().as_bytes());
        check_agrees(json!({ "events": [value.clone(), value] }).to_string().as_bytes());
    }

    #[test]
    fn a_fixture_cut_or_with_bytes_flipped_never_panics(
        fixture in 0..FIXTURES.len(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let mut bytes = FIXTURES[fixture].as_bytes().to_vec();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        bytes.truncate(cut.index(bytes.len() + 1));
        check(&bytes);
    }
}

#[test]
fn the_fixtures_themselves_parse_and_messages_take_the_fast_path() {
    for (i, fixture) in FIXTURES.into_iter().enumerate() {
        assert!(
            parse_events(fixture.as_bytes(), &ctx()).is_ok(),
            "{fixture}"
        );
        // Native chat events and updates (the last four) take the checked path.
        let fast = parse_events_fast(fixture.as_bytes(), &ctx());
        assert_eq!(fast.is_some(), i < 3, "{fixture}");
    }
}

#[test]
fn a_bad_native_chat_event_field_is_named() {
    let mut v: Value = serde_json::from_str(FIXTURES[3]).unwrap();
    v["chat"]["chat_id"] = json!(5);
    let err = parse_events(v.to_string().as_bytes(), &ctx()).unwrap_err();
    assert_eq!(err.field, "chat.chat_id");
    v["chat"]["chat_id"] = json!("n-1");
    v["timestamp"] = json!("t".repeat(513));
    let err = parse_events(v.to_string().as_bytes(), &ctx()).unwrap_err();
    assert_eq!(err.field, "timestamp");
    let mut update: Value = serde_json::from_str(FIXTURES[6]).unwrap();
    update["message"]["text"] = json!(7);
    let body = json!({"events": [update]}).to_string();
    let err = parse_events(body.as_bytes(), &ctx()).unwrap_err();
    assert_eq!(err.field, "events[0].message.text");
}

#[test]
fn deep_nesting_is_refused_with_a_clear_reason_not_a_stack_overflow() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let err = parse_events(deep.as_bytes(), &ctx()).unwrap_err();
    assert_eq!(err.field, "body");
    assert!(err.message.contains("deeper than"), "{}", err.message);
    let mut fixture: Value = serde_json::from_str(FIXTURES[0]).unwrap();
    let mut nested = json!("x");
    for _ in 0..200 {
        nested = json!({ "a": nested });
    }
    fixture["message"]["text"] = nested;
    let err = parse_events(fixture.to_string().as_bytes(), &ctx()).unwrap_err();
    assert_eq!(err.field, "body", "{err:?}");
}

#[test]
fn invalid_utf8_and_numbers_for_strings_name_the_field() {
    let mut bytes = FIXTURES[0].as_bytes().to_vec();
    let at = FIXTURES[0].find("lorem ipsum").expect("fixture text");
    bytes[at] = 0xff;
    let err = parse_events(&bytes, &ctx()).unwrap_err();
    assert_eq!(err.field, "body");
    assert!(err.message.contains("JSON"), "{}", err.message);

    let mut fixture: Value = serde_json::from_str(FIXTURES[0]).unwrap();
    fixture["message"]["text"] = json!(42);
    let err = parse_events(fixture.to_string().as_bytes(), &ctx()).unwrap_err();
    assert_eq!(err.field, "message.text");
}
