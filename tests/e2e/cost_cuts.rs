//! What a message costs AWS (issue 18): the writes, log bytes and requests billed per
//! message are cut where no guarantee needs them, and these tests keep them cut.

use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::Method;
use base64::Engine;
use outflow::clock::Clock;
use outflow::domain::{ActivityAction, ActivityEntry, Timestamp, WorkspaceId};
use outflow::store::Store;
use outflow_e2e::{Fault, Receiver, Rule, TestStack};
use outflow_local::runtime_api::{
    function_url_request_event, sibling_binary, start_function, TEMPLATE_MEMORY_MIB,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

const LIVEDESK: &str = include_str!("../../../shared/fixtures/livedesk_message_created.json");

fn incoming(id: u64) -> Vec<u8> {
    let mut v: Value = serde_json::from_str(LIVEDESK).unwrap();
    v["id"] = id.into();
    v["message_type"] = "incoming".into();
    serde_json::to_vec(&v).unwrap()
}

#[tokio::test]
async fn a_chat_already_announced_is_read_not_written() {
    let mut stack = TestStack::new().await;
    let counters = stack.count_requests().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("owner@billed.test").await;
    stack.register(&key, &receiver.url()).await;

    stack.ingest(&key, incoming(1)).await;
    counters.ingest.take();
    stack.ingest(&key, incoming(2)).await;
    let second = counters.ingest.take();
    // The admission's UpdateItem (key, rate window, settings) and nothing else: the chat
    // item, which already names its first delivery, is read.
    assert_eq!(second.get("DynamoDB.UpdateItem"), Some(&1), "{second:?}");
    stack.drain().await;
    let flags: Vec<bool> = receiver
        .received()
        .iter()
        .map(|r| r.json()["chat"]["is_new_chat"].as_bool().unwrap())
        .collect();
    assert_eq!(flags, [true, false]);
}

/// A stack with a workspace (its id and key) whose webhook posts to a receiver.
async fn registered(owner: &str) -> (TestStack, Receiver, String, String) {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace(owner).await;
    stack.register(&key, &receiver.url()).await;
    (stack, receiver, ws, key)
}

/// Writes `item` as is, as a version before this one left it.
async fn put_as_written_before(stack: &TestStack, item: outflow_local::billing::Item) {
    stack
        .aws
        .dynamo
        .put_item()
        .table_name(&stack.stack.table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

/// The store the handlers use, for reading and writing as they do.
fn store_of(stack: &TestStack) -> Store {
    Store::new(
        stack.aws.dynamo.clone(),
        &stack.stack.table,
        Clock::system(),
    )
}

/// The items whose sort key starts with `prefix`.
async fn items_of(stack: &TestStack, prefix: &str) -> Vec<outflow_local::billing::Item> {
    let starts =
        |i: &outflow_local::billing::Item| i["sk"].as_s().is_ok_and(|sk| sk.starts_with(prefix));
    stack.items().await.into_iter().filter(starts).collect()
}

#[tokio::test]
async fn a_delivery_is_logged_in_one_write_unit_and_reads_back_whole() {
    let (stack, receiver, _, key) = registered("log@billed.test").await;
    stack.ingest(&key, incoming(7)).await;
    stack.drain().await;

    let logged = items_of(&stack, "LOG#").await;
    assert_eq!(logged.len(), 1);
    // A Chatwoot message's entry (the 0.7 KB body sent, headers, the answer) was 1.4 KB
    // as plain JSON: two write units. Packed, it is one.
    let size = outflow_local::billing::item_size(&logged[0]);
    assert!(size <= 1024, "the log item is {size} bytes");
    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let entry = &log.body["requests"][0];
    let sent = receiver.received()[0].json();
    let body: Value = serde_json::from_str(entry["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(body, sent, "the log holds the body sent, whole");
}

#[tokio::test]
async fn a_sender_batchs_activity_is_one_item_and_every_entry_is_shown() {
    let (stack, receiver, _, key) = registered("activity@billed.test").await;
    let events: Vec<Value> = (20..25)
        .map(|id| serde_json::from_slice(&incoming(id)).unwrap())
        .collect();
    stack
        .ingest(
            &key,
            serde_json::to_vec(&json!({ "events": events })).unwrap(),
        )
        .await;
    let before = items_of(&stack, "ACT#").await.len();
    stack.drain().await;
    assert_eq!(receiver.received().len(), 5);

    let after = items_of(&stack, "ACT#").await.len();
    assert_eq!(after - before, 1, "one item for the batch");
    let settings = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    let activity = settings.body["activity"].as_array().unwrap();
    assert_eq!(
        activity.len(),
        5 + 1,
        "five deliveries and the registration: {activity:?}"
    );
}

#[tokio::test]
async fn chat_systems_post_through_the_ingest_functions_url() {
    let (stack, receiver, _, key) = registered("url@billed.test").await;
    let (api, ingest) = start_function(
        &sibling_binary("outflow-ingest"),
        "outflow-cost-ingest",
        &stack.function_env("outflow-cost"),
        TEMPLATE_MEMORY_MIB,
    )
    .await
    .unwrap();

    let body = String::from_utf8(incoming(31)).unwrap();
    let event = function_url_request_event(&key, &body);
    let answer = api.invoke(&event, Duration::from_secs(30)).await.unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");
    // A client that sends a body Lambda passes on base64-encoded is read the same.
    let mut encoded = function_url_request_event(&key, &String::from_utf8(incoming(32)).unwrap());
    encoded["body"] = base64::engine::general_purpose::STANDARD
        .encode(incoming(32))
        .into();
    encoded["isBase64Encoded"] = true.into();
    let answer = api.invoke(&encoded, Duration::from_secs(30)).await.unwrap();
    assert_eq!(answer["statusCode"], 202, "{answer}");
    let refused = function_url_request_event("of_wrong_key", &body);
    let answer = api.invoke(&refused, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        answer["statusCode"], 401,
        "the function checks the key itself: {answer}"
    );
    ingest.stop().await;

    stack.drain().await;
    let ids: Vec<Value> = receiver
        .received()
        .iter()
        .map(|r| r.json()["message"]["message_id"].clone())
        .collect();
    assert_eq!(ids, [json!("31"), json!("32")]);
}

#[tokio::test]
async fn the_newest_ten_actions_come_whole_from_batch_items_and_older_single_items() {
    let stack = TestStack::new().await;
    let (ws, _) = stack.workspace("mixed@billed.test").await;
    let ws = WorkspaceId::parse(&ws).unwrap();
    let store = store_of(&stack);
    let entry = |ms: i64| {
        let at = Timestamp::from_unix_millis(1_800_000_000_000 + ms).unwrap();
        ActivityEntry::new(at, ActivityAction::Delivered, format!("at {ms}"))
    };
    // Three batches whose times interleave: 1, 4, 7, 10 / 2, 5, 8, 11 / 3, 6, 9, 12.
    for first in 1..=3 {
        let batch: Vec<ActivityEntry> = (0..4).map(|i| entry(first + 3 * i)).collect();
        store.record_attempts(&ws, &mut [], &batch).await.unwrap();
    }
    // An item as written before issue 18, one plain JSON entry, at 13, beside the others.
    let before = items_of(&stack, "ACT#").await;
    let mut old = before[0].clone();
    old.remove("entries");
    old.insert(
        "sk".into(),
        AttributeValue::S(format!("ACT#{:013}#old", 1_800_000_000_013_i64)),
    );
    old.insert(
        "entry".into(),
        AttributeValue::S(serde_json::to_string(&entry(13)).unwrap()),
    );
    put_as_written_before(&stack, old).await;

    let shown: Vec<String> = store
        .recent_activity(&ws)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    let newest: Vec<String> = (4..=13).rev().map(|ms| format!("at {ms}")).collect();
    assert_eq!(shown, newest);
}

#[tokio::test]
async fn a_sender_batchs_requests_are_one_log_item_each_listed_and_resent() {
    let (stack, receiver, _, key) = registered("logbatch@billed.test").await;
    let events: Vec<Value> = (40..45)
        .map(|id| serde_json::from_slice(&incoming(id)).unwrap())
        .collect();
    let body = serde_json::to_vec(&json!({ "events": events })).unwrap();
    stack.ingest(&key, body).await;
    stack.drain().await;
    assert_eq!(receiver.received().len(), 5);

    let logged = items_of(&stack, "LOG#").await;
    assert_eq!(logged.len(), 1, "one item for the batch's five requests");
    // Five Chatwoot deliveries packed together: their bodies share nearly everything, so
    // the item bills fewer write units than one per request.
    let size = outflow_local::billing::item_size(&logged[0]);
    assert!(size <= 3 * 1024, "the batch's log item is {size} bytes");

    let log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&key), None)
        .await;
    let requests = log.body["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 5, "each request listed: {}", log.body);
    let ids: std::collections::HashSet<&str> = requests
        .iter()
        .map(|r| r["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 5, "each its own id: {ids:?}");
    let mut sent: Vec<Value> = receiver.received().iter().map(|r| r.json()).collect();
    let mut shown: Vec<Value> = requests
        .iter()
        .map(|r| serde_json::from_str(r["request_body"].as_str().unwrap()).unwrap())
        .collect();
    let by_id = |v: &Value| v["message"]["message_id"].as_str().unwrap().to_string();
    sent.sort_by_key(by_id);
    shown.sort_by_key(by_id);
    assert_eq!(shown, sent, "each entry holds the body sent, whole");

    // Any one of them is found by its id alone and resent.
    let third = &requests[2];
    let path = format!(
        "/v1/webhooks/outbound/log/{}/resend",
        third["request_id"].as_str().unwrap()
    );
    let r = stack.call(Method::POST, &path, Some(&key), None).await;
    assert_eq!(r.status, axum::http::StatusCode::ACCEPTED, "{}", r.body);
    stack.drain().await;
    let got = receiver.received();
    assert_eq!(got.len(), 6);
    let resent: Value = got[5].json();
    let logged_body: Value = serde_json::from_str(third["request_body"].as_str().unwrap()).unwrap();
    assert_eq!(
        resent, logged_body,
        "the third request, not another of its item"
    );
}

#[tokio::test]
async fn a_request_logged_one_to_an_item_before_is_still_listed_and_found() {
    let (stack, _receiver, ws, key) = registered("oldlog@billed.test").await;
    stack.ingest(&key, incoming(50)).await;
    stack.drain().await;
    // The same request as an item written before issue 18: one plain JSON entry under its
    // own id (`req_<ms>_<random>`), in the partition that id picks.
    let ws = WorkspaceId::parse(&ws).unwrap();
    let store = store_of(&stack);
    let mut entry = store.recent_requests(&ws).await.unwrap().remove(0);
    let ms = entry.time.millis() - 1_000;
    entry.request_id =
        outflow::domain::RequestId::new_unchecked(format!("req_{ms:013}_aaaaaaaaaaaa"));
    let mut old = items_of(&stack, "LOG#").await.remove(0);
    let pk = old["pk"].as_s().unwrap();
    let ws_pk = &pk[..pk.rfind('#').unwrap()];
    let shard = {
        use sha2::{Digest, Sha256};
        u32::from(Sha256::digest(entry.request_id.as_str().as_bytes())[0]) % 32
    };
    old.insert(
        "pk".into(),
        AttributeValue::S(format!("{ws_pk}#{shard:02}")),
    );
    old.insert(
        "sk".into(),
        AttributeValue::S(format!("LOG#{ms:013}#{}", entry.request_id)),
    );
    old.remove("entries");
    old.insert(
        "entry".into(),
        AttributeValue::S(serde_json::to_string(&entry).unwrap()),
    );
    put_as_written_before(&stack, old).await;

    let listed = store.recent_requests(&ws).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].request_id, entry.request_id, "older, so second");
    let found = store
        .logged_request(&ws, &entry.request_id, ms)
        .await
        .unwrap();
    assert_eq!(found.as_ref(), Some(&entry));
    let newer = &listed[0];
    let (id, at) = outflow::domain::RequestId::parse_timed(newer.request_id.as_str()).unwrap();
    let found = store.logged_request(&ws, &id, at).await.unwrap();
    assert_eq!(found.as_ref(), Some(newer));
    let wrong = id.item().entry(7);
    assert_eq!(store.logged_request(&ws, &wrong, at).await.unwrap(), None);
}

/// A key named `name` holding `scopes`, made with `maker`.
async fn make_key(stack: &TestStack, maker: &str, name: &str, scopes: &[&str]) -> String {
    let made = stack.make_key(maker, name, json!(scopes)).await;
    assert_eq!(made.status, 201, "{:?}", made.body);
    made.body["api_key"].as_str().unwrap().to_string()
}

/// Rotates `key`; returns the new key.
async fn rotated(stack: &TestStack, key: &str) -> String {
    let r = stack.rotate_key(key).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["api_key"].as_str().unwrap().to_string()
}

/// The keys as `key` lists them.
async fn listed(stack: &TestStack, key: &str) -> Vec<Value> {
    let r = stack.list_keys(key).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["keys"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_workspace_with_a_key_per_system_is_admitted_in_one_write_unit() {
    let (stack, receiver, _, owner) = registered("keys@billed.test").await;
    // The owner's key and one per system that calls in: the chat system, a CRM, a
    // dashboard; names and scopes as a tenant would give them.
    let chat = make_key(
        &stack,
        &owner,
        "Chatwoot production (support inbox)",
        &["events:write"],
    )
    .await;
    make_key(
        &stack,
        &owner,
        "HubSpot CRM sync",
        &["events:write", "logs:read"],
    )
    .await;
    let dashboard = make_key(&stack, &owner, "Ops dashboard", &["logs:read"]).await;
    assert_eq!(stack.ingest(&chat, incoming(41)).await.status, 202);

    // Every ingest request's admission updates the workspace item, billed by its size:
    // with every key's name, prefix and time on it, four keys took it past 1 KB (two
    // write units a request). Only what admission checks stays on it.
    let meta = items_of(&stack, "META").await;
    let size = outflow_local::billing::item_size(&meta[0]);
    assert!(
        size <= 1024,
        "the workspace item is {size} bytes: {:?}",
        meta[0]
    );

    // What moved is still shown and kept: names, prefixes, scopes, times.
    let keys = listed(&stack, &owner).await;
    let names: Vec<&str> = keys.iter().map(|k| k["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "first key",
            "Chatwoot production (support inbox)",
            "HubSpot CRM sync",
            "Ops dashboard"
        ]
    );
    for k in &keys {
        assert!(k["prefix"].as_str().unwrap().starts_with("ofk."), "{k}");
        assert!(!k["created_at"].as_str().unwrap().is_empty(), "{k}");
    }
    assert_eq!(keys[3]["scopes"], json!(["logs:read"]));
    // A rotated key keeps its name and scopes; the old one stops working.
    let new = rotated(&stack, &dashboard).await;
    let old_log = stack
        .call(
            Method::GET,
            "/v1/webhooks/outbound/log",
            Some(&dashboard),
            None,
        )
        .await;
    assert_eq!(old_log.status, 401);
    let new_log = stack
        .call(Method::GET, "/v1/webhooks/outbound/log", Some(&new), None)
        .await;
    assert_eq!(new_log.status, 200);
    let keys = listed(&stack, &owner).await;
    let last = keys.last().unwrap();
    assert_eq!(last["name"], "Ops dashboard", "{last}");
    assert_eq!(last["scopes"], json!(["logs:read"]));
    stack.drain().await;
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_key_stored_with_its_details_in_the_workspace_item_is_listed_and_rotated_by_name() {
    let (stack, _, ws, owner) = registered("old-keys@billed.test").await;
    // As a version before this one stored it: name, prefix and time in the key's entry,
    // no details item.
    let hash = outflow::domain::ApiKey::presented(&owner).hash();
    let entry = AttributeValue::M(
        [
            ("created_at", "2026-01-02T03:04:05Z"),
            ("name", "owner's key"),
            ("prefix", "ofk.old.prefix"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), AttributeValue::S(v.into())))
        .collect(),
    );
    let keys = AttributeValue::M([(hash, entry)].into());
    stack
        .update_workspace_item(&ws, "SET api_keys = :keys", &[], &[(":keys", keys)])
        .await;
    stack
        .aws
        .dynamo
        .delete_item()
        .table_name(&stack.stack.table)
        .key("pk", AttributeValue::S(format!("WS#{ws}")))
        .key("sk", AttributeValue::S("KEYS".into()))
        .send()
        .await
        .unwrap();

    let keys = listed(&stack, &owner).await;
    assert_eq!(keys[0]["name"], "owner's key", "{keys:?}");
    assert_eq!(keys[0]["prefix"], "ofk.old.prefix");
    let new = rotated(&stack, &owner).await;
    let keys = listed(&stack, &new).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0]["name"], "owner's key");
    assert!(keys[0]["prefix"].as_str().unwrap().starts_with("ofk.ws_"));
    let revoked = stack
        .call(Method::POST, "/v1/api-keys/revoke", Some(&new), None)
        .await;
    assert_eq!(revoked.status, 200);
    assert_eq!(stack.list_keys(&new).await.status, 401);
    // Nothing is left about the keys gone but the details item itself.
    let details = items_of(&stack, "KEYS").await;
    assert_eq!(details.len(), 1);
    assert_eq!(
        details[0].len(),
        2,
        "only its key is left: {:?}",
        details[0]
    );
}

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");

/// A native message of `chat`.
fn message_in(id: &str, chat: &str) -> Value {
    let mut v: Value = serde_json::from_str(SEED).unwrap();
    v["message"]["message_id"] = id.into();
    v["chat"]["chat_id"] = chat.into();
    v
}

/// A team's chats as a tenant routing them to a CRM would list them: 100 WhatsApp groups.
fn team_chats(team: u32) -> Vec<String> {
    (0..100)
        .map(|i| format!("1203630{team}{i:011}@g.us"))
        .collect()
}

/// What each event of an ingest request became: its reason, or "" when it was taken.
async fn reasons(stack: &TestStack, key: &str, events: Vec<Value>) -> Vec<String> {
    let body = json!({ "events": events }).to_string();
    let answer = stack.ingest(key, body).await;
    assert_eq!(answer.status, 202, "{}", answer.body);
    answer.body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["reason"].as_str().unwrap_or("").to_string())
        .collect()
}

/// What a request of two messages became: `<tag>1` in `ours`, `<tag>2` in `theirs`.
async fn reasons_for(
    stack: &TestStack,
    key: &str,
    tag: &str,
    (ours, theirs): (&str, &str),
) -> Vec<String> {
    let events = vec![
        message_in(&format!("{tag}1"), ours),
        message_in(&format!("{tag}2"), theirs),
    ];
    reasons(stack, key, events).await
}

#[tokio::test]
async fn a_webhook_filtering_a_hundred_chats_is_admitted_in_one_write_unit() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("filter@billed.test").await;
    let save = |filter: Option<&Value>| {
        let mut body = json!({"url": receiver.url(), "event_types": []});
        if let Some(filter) = filter {
            body["filter"] = filter.clone();
        }
        body
    };
    stack.set_time("2026-03-01T10:00:00Z");
    let filter = json!({ "chat_ids": team_chats(1) });
    let saved = stack.save_settings(&key, &save(Some(&filter))).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert_eq!(saved.body["filter"], filter);
    let (ours, theirs) = (&team_chats(1)[7], &team_chats(2)[7]);
    let got = reasons_for(&stack, &key, "a", (ours, theirs)).await;
    let refused = format!("the webhook's filter does not take chat {theirs}");
    assert_eq!(got, ["".to_string(), refused]);

    // Every ingest request's admission updates the workspace item, billed by its size:
    // with the filter's 100 chats on it (about 2.6 KB) it cost three write units a request.
    let meta = items_of(&stack, "META").await;
    let size = outflow_local::billing::item_size(&meta[0]);
    assert!(size <= 1024, "the workspace item is {size} bytes");
    let shown = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert_eq!(shown.body["filter"], filter, "{}", shown.body);

    // A new filter is the one the next request meets, though the one it replaced is kept
    // a while (a save writing it again could be about to name it).
    stack.set_time("2026-03-01T10:01:00Z");
    let other = json!({ "chat_ids": team_chats(2) });
    assert_eq!(
        stack.save_settings(&key, &save(Some(&other))).await.status,
        200
    );
    let got = reasons_for(&stack, &key, "b", (ours, theirs)).await;
    let refused = format!("the webhook's filter does not take chat {ours}");
    assert_eq!(got, [refused, "".to_string()]);
    assert_eq!(items_of(&stack, "FILTER").await.len(), 2);

    // Saved without a filter: every chat again, and what is older than the grace dropped.
    stack.set_time("2026-03-01T10:20:00Z");
    assert_eq!(stack.save_settings(&key, &save(None)).await.status, 200);
    let got = reasons_for(&stack, &key, "c", (ours, theirs)).await;
    assert_eq!(got, ["", ""]);
    assert!(items_of(&stack, "FILTER").await.is_empty());
    stack.drain().await;
    let mut ids: Vec<String> = receiver
        .received()
        .iter()
        .map(|r| {
            r.json()["message"]["message_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["a1", "b2", "c1", "c2"]);
}

#[tokio::test]
async fn a_filter_kept_apart_survives_a_partial_change_and_yields_to_an_older_versions_save() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace("apart@billed.test").await;
    let filter = json!({ "chat_ids": team_chats(1) });
    let body = json!({"url": receiver.url(), "event_types": [], "filter": filter});
    assert_eq!(stack.save_settings(&key, &body).await.status, 200);
    let (ours, theirs) = (&team_chats(1)[3], &team_chats(2)[3]);

    // What a version before this one reads as the filter takes no chat: it skips this
    // webhook's events rather than deliver past the tenant's filter.
    let meta = items_of(&stack, "META").await.remove(0);
    let left = meta["filter"].as_m().unwrap();
    assert_eq!(left.len(), 1, "only chat_ids: {left:?}");
    let chats = left["chat_ids"].as_l().unwrap();
    assert_eq!(chats.len(), 1, "{chats:?}");
    let chat = chats[0].as_s().unwrap();
    assert!(chat.contains("kept apart"), "{chat}");
    assert!(!team_chats(1).contains(chat));

    // A change of one field keeps the filter (the save reads it back whole).
    let change = json!({"continuous_conversation": true})
        .to_string()
        .into_bytes();
    let changed = stack
        .call(
            Method::PATCH,
            "/v1/endpoints/default",
            Some(&key),
            Some(change),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    assert_eq!(changed.body["filter"], filter, "{}", changed.body);
    let got = reasons_for(&stack, &key, "a", (ours, theirs)).await;
    assert_eq!(got[0], "");
    assert!(got[1].contains("does not take chat"), "{got:?}");

    // A save by a version before this one writes its filter on the workspace item and
    // leaves the reference: the filter it saved is the one that applies.
    let inline = AttributeValue::M(HashMap::from([(
        "chat_ids".to_string(),
        AttributeValue::L(vec![AttributeValue::S(theirs.clone())]),
    )]));
    stack
        .update_workspace_item(
            &ws,
            "SET #filter = :filter",
            &[("#filter", "filter")],
            &[(":filter", inline)],
        )
        .await;
    let got = reasons_for(&stack, &key, "b", (ours, theirs)).await;
    assert!(got[0].contains("does not take chat"), "{got:?}");
    assert_eq!(got[1], "");
    let shown = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(&key), None)
        .await;
    assert_eq!(shown.body["filter"], json!({ "chat_ids": [theirs] }));
}

#[tokio::test]
async fn a_request_whose_filter_a_save_replaced_meanwhile_takes_the_new_one() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("meanwhile@billed.test").await;
    let save = |team: u32| {
        let filter = json!({ "chat_ids": team_chats(team) });
        json!({"url": receiver.url(), "event_types": [], "filter": filter})
    };
    stack.set_time("2026-03-01T10:00:00Z");
    assert_eq!(stack.save_settings(&key, &save(1)).await.status, 200);
    let first = items_of(&stack, "FILTER#").await.remove(0);
    let first = first["sk"].as_s().unwrap().clone();

    // The request reads the workspace item naming the first filter; its read of that
    // filter's item is held while a save names another and drops the first (written
    // past the grace), so the read finds nothing and the request must look again.
    stack.set_time("2026-03-01T10:20:00Z");
    let proxy = stack.faults.as_ref().unwrap();
    let ours = &team_chats(1)[5];
    let request = reasons(&stack, &key, vec![message_in("m1", ours)]);
    let meanwhile = async {
        assert_eq!(stack.save_settings(&key, &save(2)).await.status, 200);
        let left: Vec<_> = items_of(&stack, "FILTER#").await;
        assert_eq!(left.len(), 1, "the first filter's item is dropped");
        assert_ne!(left[0]["sk"].as_s().unwrap(), &first);
    };
    let held = ("DynamoDB.GetItem", first.as_str());
    let (got, ()) = Box::pin(proxy.while_held(held, request, meanwhile)).await;
    assert_eq!(proxy.injected(), 1);
    let refused = format!("the webhook's filter does not take chat {ours}");
    assert_eq!(got, [refused]);
}

#[tokio::test]
async fn only_the_default_webhooks_save_looks_for_filter_items_to_drop() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("endpoint-save@billed.test").await;
    stack.register(&key, &receiver.url()).await;
    let made = stack.add_endpoint(&key, &receiver.url()).await;
    let id = made["endpoint_id"].as_str().unwrap();
    // The cleanup's Query refused: a save does not fail for it (best effort), and the
    // proxy counts who looked.
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(Rule::always("DynamoDB.Query", Fault::Refuse).when_body_contains("FILTER#"));
    let (stack, key) = (&stack, key.as_str());
    let change = |path: String, team: u32| async move {
        let body = json!({ "filter": { "chat_ids": team_chats(team) } });
        let body = body.to_string().into_bytes();
        let r = stack
            .call(Method::PATCH, &path, Some(key), Some(body))
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        proxy.injected()
    };
    // An additional endpoint keeps its filter on its own item: nothing to look for.
    assert_eq!(change(format!("/v1/endpoints/{id}"), 1).await, 0);
    assert_eq!(change("/v1/endpoints/default".to_string(), 2).await, 1);
}

/// Saves `key`'s webhook to `receiver` with `aggregation`, switched on or off, filtering
/// team 1's 100 chats (a filter kept apart).
/// Every read of a filter item refused.
fn filter_reads_refused() -> Rule {
    Rule::always("DynamoDB.GetItem", Fault::Refuse).when_body_contains("FILTER#")
}

async fn save_team_filter(
    stack: &TestStack,
    key: &str,
    (receiver, aggregation): (&Receiver, &str),
    enabled: bool,
) {
    let filter = json!({ "chat_ids": team_chats(1) });
    let body = json!({"url": receiver.url(), "aggregation": aggregation,
        "enabled": enabled, "filter": filter});
    let saved = stack.save_settings(key, &body).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
}

#[tokio::test]
async fn deliveries_read_no_filter_kept_apart() {
    let stack = TestStack::behind_faults().await;
    let (now, later) = (Receiver::start().await, Receiver::start().await);
    let chat = &team_chats(1)[9];
    let mut keys = Vec::new();
    for (receiver, aggregation) in [(&now, "none"), (&later, "1h")] {
        let (_, key) = stack.workspace("deliveries@billed.test").await;
        save_team_filter(&stack, &key, (receiver, aggregation), true).await;
        keys.push(key);
    }
    assert_eq!(items_of(&stack, "FILTER#").await.len(), 2, "kept apart");
    stack.set_time("2026-03-01T10:00:00Z");
    for key in &keys {
        assert_eq!(
            reasons(&stack, key, vec![message_in("d1", chat)]).await,
            [""]
        );
    }
    // From here every read of a filter item fails: the filter applies at ingest, so the
    // sender and the aggregator act on the settings without it (one read, not two).
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(filter_reads_refused());
    stack.drain().await;
    assert_eq!(now.received().len(), 1, "the immediate delivery");
    stack.aggregate("2026-03-01T11:02:00Z").await;
    stack.drain().await;
    assert_eq!(later.received().len(), 1, "the 1h bundle");
    // Nor do a test event and a replay, which answer without the settings.
    for (path, body) in [
        ("/v1/webhooks/outbound/test", None),
        (
            "/v1/webhooks/outbound/replay",
            Some(json!({"since": "2026-03-01T09:00:00Z"})),
        ),
    ] {
        let body = body.map(|b| b.to_string().into_bytes());
        let r = stack.call(Method::POST, path, Some(&keys[0]), body).await;
        assert!(r.status.is_success(), "{path}: {} {}", r.status, r.body);
    }
    assert_eq!(proxy.injected(), 0);
}

#[tokio::test]
async fn held_deliveries_are_held_and_released_without_reading_a_filter_kept_apart() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("held@billed.test").await;
    let to = (&receiver, "none");
    save_team_filter(&stack, &key, to, true).await;
    let chat = &team_chats(1)[9];
    assert_eq!(
        reasons(&stack, &key, vec![message_in("h1", chat)]).await,
        [""]
    );
    // Switched off with the delivery queued: the sender holds it (and checks whether a
    // release is due), then enable's release puts it back; neither needs the filter.
    save_team_filter(&stack, &key, to, false).await;
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(filter_reads_refused());
    stack.drain().await;
    assert!(receiver.received().is_empty());
    assert_eq!(stack.items_with_prefix("HELD#").await, 1);
    // Enable answers with the settings, filter included: it reads it.
    proxy.clear();
    assert_eq!(stack.enable(&key).await.status, 200);
    proxy.inject(filter_reads_refused());
    stack.drain().await;
    let ids: Vec<String> = receiver.received().iter().map(|r| r.message_id()).collect();
    assert_eq!(ids, ["h1"]);
    assert_eq!(stack.items_with_prefix("HELD#").await, 0);
    assert_eq!(proxy.injected(), 0);
}

#[tokio::test]
async fn a_change_whose_answer_shows_a_filter_it_cannot_read_is_not_made() {
    let stack = TestStack::behind_faults().await;
    let receiver = Receiver::start().await;
    let (_, key) = stack.workspace("unmade@billed.test").await;
    save_team_filter(&stack, &key, (&receiver, "none"), false).await;
    // The stack's table holds this one workspace.
    let workspace_item = || async { items_of(&stack, "META").await.remove(0) };
    let before = workspace_item().await;
    assert!(
        before.contains_key("filter_ref"),
        "the filter is kept apart"
    );
    // Its item cannot be read: enable, rotation and renaming answer with the settings,
    // filter included, so each fails, and before it changed anything (renaming, whose
    // handler no longer reads the settings first, through the store's own read).
    let proxy = stack.faults.as_ref().unwrap();
    proxy.inject(filter_reads_refused());
    let rename = json!({"description": "CRM"}).to_string().into_bytes();
    for (method, path, body) in [
        (Method::POST, "/v1/webhooks/outbound/enable", None),
        (Method::POST, "/v1/webhooks/outbound/rotate-secret", None),
        (Method::PATCH, "/v1/endpoints/default", Some(rename)),
    ] {
        let r = stack.call(method, path, Some(&key), body).await;
        assert!(
            r.status.is_server_error(),
            "{path}: {} {}",
            r.status,
            r.body
        );
    }
    assert!(proxy.injected() > 0);
    // Before: enabled, the secret rotated (the tenant never saw the new one), each
    // answered 5xx.
    assert_eq!(workspace_item().await, before, "nothing changed");
    proxy.clear();
    let r = stack.rotate_secret(&key).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["filter"]["chat_ids"],
        json!(team_chats(1)),
        "{}",
        r.body
    );
    assert_ne!(workspace_item().await.get("secret"), before.get("secret"));
}

#[tokio::test]
async fn a_large_filter_stays_on_the_workspace_item_until_this_versions_ingest_marks_it() {
    let stack = TestStack::new().await;
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace("marked@billed.test").await;
    let mark = || stack.workspace_attribute(&ws, "reads_filter_ref");
    assert!(mark().await.is_some(), "made by this version");
    // A workspace made before this version, none of whose requests this version's ingest
    // has admitted yet: in a deploy the api is updated first, so the ingest meeting a
    // filter saved now may be the older one, which reads only the workspace item.
    stack
        .update_workspace_item(&ws, "REMOVE reads_filter_ref", &[], &[])
        .await;
    let filter = json!({ "chat_ids": team_chats(1) });
    let body = json!({"url": receiver.url(), "event_types": [], "filter": filter});
    assert_eq!(stack.save_settings(&key, &body).await.status, 200);
    assert!(items_of(&stack, "FILTER#").await.is_empty());
    let meta = items_of(&stack, "META").await.remove(0);
    assert!(!meta.contains_key("filter_ref"));
    let stored = meta["filter"].as_m().unwrap()["chat_ids"].as_l().unwrap();
    assert_eq!(
        stored.len(),
        100,
        "the tenant's filter, not the placeholder"
    );

    // One request admitted by this version's ingest marks the item; a save 15 minutes
    // later keeps the filter apart (before then an older ingest may still serve requests).
    stack.set_time("2026-03-01T10:00:00Z");
    let (ours, theirs) = (&team_chats(1)[2], &team_chats(2)[2]);
    let got = reasons_for(&stack, &key, "a", (ours, theirs)).await;
    assert_eq!(got[0], "");
    assert!(got[1].contains("does not take chat"), "{got:?}");
    let marked = mark().await.expect("marked by the request");
    // A later request opens another rate window: the mark keeps the first time.
    stack.set_time("2026-03-01T10:10:00Z");
    assert_eq!(
        reasons(&stack, &key, vec![message_in("a3", ours)]).await,
        [""]
    );
    assert_eq!(mark().await, Some(marked.clone()));
    let at = |rfc: &str| Timestamp::parse(rfc).unwrap().millis();
    assert_eq!(
        marked.as_n().unwrap(),
        &at("2026-03-01T10:00:00Z").to_string()
    );
    stack.set_time("2026-03-01T10:14:00Z");
    assert_eq!(stack.save_settings(&key, &body).await.status, 200);
    assert!(items_of(&stack, "FILTER#").await.is_empty(), "too soon");
    stack.set_time("2026-03-01T10:16:00Z");
    assert_eq!(stack.save_settings(&key, &body).await.status, 200);
    assert_eq!(items_of(&stack, "FILTER#").await.len(), 1);
    let meta = items_of(&stack, "META").await.remove(0);
    assert!(meta.contains_key("filter_ref"));
    let size = outflow_local::billing::item_size(&meta);
    assert!(size <= 1024, "the workspace item is {size} bytes");
}
