//! What a message costs in DynamoDB writes (issue 18): the writes AWS bills per message are
//! cut where a guarantee does not need them, and these tests keep them cut.

use outflow_e2e::{Receiver, TestStack};
use serde_json::Value;

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
