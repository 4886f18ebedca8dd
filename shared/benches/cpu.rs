//! CPU per message (issue #6): parsing inbound events, rendering a 1,000-message bundle,
//! signing a 10 KB body. `make bench` runs it and prints the table with the targets.

// criterion_group! and criterion_main! generate functions without doc comments.
#![allow(missing_docs)]

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use outflow::domain::{Bundle, MessageId, Timestamp};
use outflow::formats::bundle::build_parts;
use outflow::formats::parse_events;
use outflow::formats::ParseContext;
use outflow::signing::{generate_secret, sign};
use std::hint::black_box;

const CHATWOOT: &str = include_str!("../../../shared/fixtures/livedesk_message_created.json");
const NATIVE: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");
const BUNDLE: &str = include_str!("../../../shared/fixtures/timelines_bundle_example.json");

fn context() -> ParseContext {
    ParseContext {
        chat_url_base: "https://app.chatwoot.com".into(),
    }
}

fn parse(c: &mut Criterion) {
    let ctx = context();
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    for (name, body) in [
        ("chatwoot_message_created", CHATWOOT),
        ("native_message", NATIVE),
    ] {
        // The body as it arrives: bytes, parsed, validated and normalized into events.
        let bytes = body.as_bytes().to_vec();
        assert_eq!(parse_events(&bytes, &ctx).expect("fixture parses").len(), 1);
        group.bench_function(name, |b| {
            b.iter(|| parse_events(black_box(&bytes), &ctx).expect("parses"))
        });
    }
    group.finish();
}

/// A window of `count` messages like the seed bundle's, each with its own id, time and text.
fn window(count: usize) -> (Bundle, Vec<outflow::domain::Message>) {
    let seed: Bundle = serde_json::from_str(BUNDLE).expect("seed bundle");
    let template = seed.messages[0].clone();
    let start = template.timestamp.millis() / 1000;
    let messages = (0..count)
        .map(|i| {
            let mut m = template.clone();
            m.message_id = MessageId::new_unchecked(format!("msg-{i:05}"));
            m.timestamp = Timestamp::from_unix(start + i as i64).expect("in range");
            m.text = format!("Message {i}: can we move <b>the call</b> to 3pm & bring the notes?");
            m
        })
        .rev() // stored order is not timestamp order
        .collect();
    (seed, messages)
}

fn render(c: &mut Criterion) {
    let (seed, messages) = window(1_000);
    let mut group = c.benchmark_group("bundle");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("render_1000_messages", |b| {
        b.iter_batched(
            || messages.clone(),
            |messages| {
                // Sort, HTML digest, part split and the JSON body the sender will POST.
                let parts = build_parts(
                    &seed.whatsapp_account,
                    &seed.chat,
                    messages,
                    "https://app.timelines.ai/permalink",
                );
                parts
                    .iter()
                    .map(|p| serde_json::to_string(p).expect("serializes").len())
                    .sum::<usize>()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn signing(c: &mut Criterion) {
    let secret = generate_secret();
    let body = vec![b'x'; 10 * 1024];
    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("sign_10kb", |b| {
        b.iter(|| sign(&secret, "msg_2Yq8", 1_700_000_000, black_box(&body)).expect("signs"))
    });
    group.finish();
}

criterion_group!(benches, parse, render, signing);
criterion_main!(benches);
