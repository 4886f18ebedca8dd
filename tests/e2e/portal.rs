//! The tenant portal in a real browser: Debian's Chromium, headless, driven through
//! ChromeDriver (WebDriver) against the functions served on 127.0.0.1 and real receivers.
//! It mints a link, opens it, and works the page by its accessible names, as a tenant
//! would: settings saved and read back through the API, a refused URL, an auto-disabled
//! webhook re-enabled, activity, the log download, the secret revealed and rotated (a
//! delivery verifies with both), replay, the page under a stage's path, expired and
//! revoked links, the page in a frame of an allowed origin and refused in one of another; then axe-core's audit, and screenshots
//! (desktop and 360 px) in `target/portal/`. `infra/install-chromium.sh` installs the
//! browser and axe-core (`make test` runs it).

use axum::http::{Method, StatusCode};
use fantoccini::actions::{InputSource, KeyAction, KeyActions};
use fantoccini::{Client, ClientBuilder, Locator};
use outflow_e2e::{Options, Receiver, TestStack, ADMIN_TOKEN};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SEED: &str = include_str!("../../../shared/fixtures/timelines_message_example.json");

/// A loopback HTTP server for `router`; its address.
async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// A page on its own origin (`listener`'s) that frames `src`; its address.
async fn framing_page(listener: tokio::net::TcpListener, src: String) -> SocketAddr {
    let html = format!(
        "<!doctype html><html lang=\"en\"><title>The SaaS</title><h1>Settings</h1>\
         <iframe title=\"Webhook settings\" src=\"{src}\" width=\"800\" height=\"600\"></iframe></html>"
    );
    let page = move || {
        let html = html.clone();
        async move { axum::response::Html(html) }
    };
    let addr = listener.local_addr().unwrap();
    let router = axum::Router::new().route("/", axum::routing::get(page));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// ChromeDriver on a free loopback port, ended with the test.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn browser(downloads: &Path) -> (Driver, Client) {
    let port = free_port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver: run infra/install-chromium.sh (make test does)");
    let driver = Driver(child);
    // One profile per browser: two tests' browsers may run at once.
    let profile =
        std::env::temp_dir().join(format!("outflow-portal-{}-{port}", std::process::id()));
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--window-size=1280,1100",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
            },
        }
    });
    let started = Instant::now();
    loop {
        // ChromeDriver speaks plain HTTP on loopback: no TLS connector.
        let http = hyper_util::client::legacy::connect::HttpConnector::new();
        let connected = ClientBuilder::new(http)
            .capabilities(capabilities.as_object().unwrap().clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match connected {
            Ok(client) => return (driver, client),
            Err(e) if started.elapsed() < Duration::from_secs(20) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => panic!("no WebDriver session: {e}"),
        }
    }
}

/// The control a visible label names (the contract's accessible names).
async fn by_label(c: &Client, label: &str) -> fantoccini::elements::Element {
    let label_el = c
        .find(Locator::XPath(&format!(
            "//label[normalize-space()=\"{label}\"]"
        )))
        .await
        .unwrap_or_else(|_| panic!("no label {label:?}"));
    let id = label_el.attr("for").await.unwrap().expect("label for");
    c.find(Locator::Id(&id)).await.unwrap()
}

/// Chooses the option named `option` of the select labelled `label`.
async fn choose(c: &Client, label: &str, option: &str) {
    let select = by_label(c, label).await;
    let id = select.attr("id").await.unwrap().unwrap();
    c.find(Locator::XPath(&format!(
        "//select[@id=\"{id}\"]/option[normalize-space()=\"{option}\"]"
    )))
    .await
    .unwrap_or_else(|_| panic!("no option {option:?}"))
    .click()
    .await
    .unwrap();
}

async fn button(c: &Client, name: &str) -> fantoccini::elements::Element {
    c.find(Locator::XPath(&format!(
        "//button[normalize-space()=\"{name}\"]"
    )))
    .await
    .unwrap_or_else(|_| panic!("no button {name:?}"))
}

/// Waits until the element's text satisfies `ok`; its text.
async fn text_until(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let text = match c.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if ok(&text) {
            return text;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{css}: {text:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn settings(stack: &TestStack, key: &str) -> Value {
    let r = stack
        .call(Method::GET, "/v1/webhooks/outbound", Some(key), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    r.body
}

async fn mint(stack: &TestStack, ws: &str, body: Option<Value>) -> String {
    let r = stack
        .call(
            Method::POST,
            &format!("/v1/workspaces/{ws}/portal-links"),
            Some(ADMIN_TOKEN),
            body.map(|b| b.to_string().into_bytes()),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.body);
    let url = r.body["url"].as_str().unwrap().to_string();
    // The link names the stack's public base; the test serves it on loopback.
    let (_, fragment) = url.split_once("/portal#").unwrap();
    format!("#{fragment}")
}

fn message(id: &str) -> String {
    let mut event: Value = serde_json::from_str(SEED).unwrap();
    event["message"]["message_id"] = id.into();
    // A chat each: a failed delivery holds back only its own chat.
    event["chat"]["chat_id"] = format!("chat-{id}").into();
    event.to_string()
}

async fn deliver(stack: &TestStack, key: &str, id: &str) {
    let r = stack.ingest(key, message(id)).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
    stack.drain().await;
}

fn shots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/portal");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_tenant_does_everything_the_settings_page_does_in_a_browser() {
    // The SaaS page allowed to frame the portal, and one that is not.
    let allowed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    // Kept bound until the framing page serves on it: a port let go could be taken by
    // another test's server in between.
    let allowed_origin = format!("http://{}", allowed.local_addr().unwrap());
    let stack = TestStack::with(Options {
        portal_frame_ancestors: vec![allowed_origin.clone()],
        ..Default::default()
    })
    .await;
    let api = serve(stack.app.router()).await;
    let base = format!("http://{api}/portal");
    let receiver = Receiver::start().await;
    let (ws, key) = stack.workspace(&stack.unique_email("portal")).await;
    let downloads = std::env::temp_dir().join(format!("outflow-downloads-{}", std::process::id()));
    std::fs::create_dir_all(&downloads).unwrap();
    let (_driver, c) = browser(&downloads).await;

    // Opened from a fresh link: the empty form of a workspace without a webhook yet.
    let link = mint(&stack, &ws, None).await;
    let opened = Instant::now();
    c.goto(&format!("{base}{link}")).await.unwrap();
    c.find(Locator::XPath("//h1[normalize-space()='Outbound webhook']"))
        .await
        .expect("the heading");
    text_until(&c, "#portal", |_| true).await;
    c.wait()
        .for_element(Locator::Css("#workspace:not([hidden])"))
        .await
        .unwrap();
    let opened_ms = opened.elapsed().as_millis();
    let interactive_ms = c
        .execute(
            "const n = performance.getEntriesByType('navigation')[0]; return n.domInteractive;",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        !c.current_url().await.unwrap().as_str().contains("token="),
        "the token leaves the address bar"
    );

    // Every setting changed and saved, then read back through the API.
    choose(&c, "Aggregation granularity", "Every 1 hour").await;
    let url = by_label(&c, "Webhook URL").await;
    url.send_keys(&receiver.url()).await.unwrap();
    by_label(&c, "Webhook enabled").await.click().await.unwrap();
    by_label(&c, "One continuous conversation per contact")
        .await
        .click()
        .await
        .unwrap();
    // Events: the two message types are on, as before subscriptions; add two.
    let chosen = [
        "Messages received",
        "Messages sent",
        "Message edited",
        "Chat closed",
    ];
    by_label(&c, "Chat closed").await.click().await.unwrap();
    by_label(&c, "Message edited").await.click().await.unwrap();
    button(&c, "Save").await.click().await.unwrap();
    text_until(&c, "#saved", |t| t == "Saved.").await;
    let saved = settings(&stack, &key).await;
    assert_eq!(saved["url"], receiver.url());
    assert_eq!(saved["aggregation"], "1h");
    assert_eq!(saved["enabled"], true);
    assert_eq!(saved["continuous_conversation"], true);
    assert_eq!(
        saved["event_types"],
        serde_json::json!([
            "message:received:new",
            "message:sent:new",
            "message:updated",
            "chat:closed"
        ])
    );
    // None chosen: said beside the boxes, nothing saved.
    for label in chosen {
        by_label(&c, label).await.click().await.unwrap();
    }
    button(&c, "Save").await.click().await.unwrap();
    let error = text_until(&c, "#event-types-error", |t| !t.is_empty()).await;
    assert!(error.contains("at least one"), "{error}");
    assert_eq!(
        settings(&stack, &key).await["event_types"],
        saved["event_types"]
    );
    for label in chosen {
        by_label(&c, label).await.click().await.unwrap();
    }

    // A refused URL: the API's message beside the field, tied to it; nothing saved.
    url.clear().await.unwrap();
    url.send_keys("http://10.0.0.1/hook").await.unwrap();
    button(&c, "Save").await.click().await.unwrap();
    let error = text_until(&c, "#url-error", |t| !t.is_empty()).await;
    assert!(error.contains("internal address"), "{error}");
    assert_eq!(
        url.attr("aria-describedby").await.unwrap().as_deref(),
        Some("url-error")
    );
    let alert = c.find(Locator::Id("url-error")).await.unwrap();
    assert_eq!(alert.attr("role").await.unwrap().as_deref(), Some("alert"));
    assert_eq!(settings(&stack, &key).await["url"], receiver.url());

    // A filter set through the API (the page has no control for it) outlives saves here;
    // it names both directions, so it takes every message this test sends.
    let filter = json!({"directions": ["received", "sent"]});
    let body = json!({"filter": filter}).to_string().into_bytes();
    let r = stack
        .call(
            Method::PATCH,
            "/v1/endpoints/default",
            Some(&key),
            Some(body),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);

    // Back to one POST per message; a delivery shows in the activity, in local time.
    url.clear().await.unwrap();
    url.send_keys(&receiver.url()).await.unwrap();
    choose(&c, "Aggregation granularity", "Don't aggregate").await;
    button(&c, "Save").await.click().await.unwrap();
    text_until(&c, "#saved", |t| t == "Saved.").await;
    let saved = settings(&stack, &key).await;
    assert_eq!(saved["aggregation"], "none");
    assert_eq!(saved["filter"], filter, "the save kept the filter");
    let secret_before = settings(&stack, &key).await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    // A test event: the receiver gets the seed's example, signed; the page shows the answer.
    receiver.respond_with(202);
    button(&c, "Send test event").await.click().await.unwrap();
    let outcome = text_until(&c, "#test-outcome", |t| t.starts_with("Delivered")).await;
    assert!(outcome.starts_with("Delivered: HTTP 202 in "), "{outcome}");
    let test = receiver.received().last().unwrap().clone();
    assert_eq!(test.json()["message"]["message_id"], "outflow-test-event");
    assert!(test.signed_with(&secret_before));
    // One per workspace every 5 s; then a failing one shows why, and counts toward nothing.
    receiver.respond_with(503);
    button(&c, "Send test event").await.click().await.unwrap();
    text_until(&c, "#test-outcome", |t| {
        t.starts_with("One test event every 5 seconds")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    button(&c, "Send test event").await.click().await.unwrap();
    let outcome = text_until(&c, "#test-outcome", |t| t.starts_with("Failed")).await;
    assert!(outcome.contains("503"), "{outcome}");
    assert_eq!(
        settings(&stack, &key).await["status"]["consecutive_failures"],
        0
    );
    receiver.respond_with(200);
    deliver(&stack, &key, "portal-1").await;
    assert_eq!(receiver.received().len(), 3);

    // The receiver answers 410 Gone: disabled at once; the page says since when and why.
    receiver.respond_with(410);
    deliver(&stack, &key, "portal-2").await;
    receiver.respond_with(200);
    deliver(&stack, &key, "portal-held").await;
    c.refresh().await.unwrap();
    let state = text_until(&c, "#state", |t| t.starts_with("Disabled")).await;
    assert!(state.contains("410 Gone"), "{state}");
    let activity = text_until(&c, "#activity", |t| t.contains("Delivered")).await;
    assert!(activity.contains("failed"), "{activity}");
    button(&c, "Re-enable").await.click().await.unwrap();
    let released = text_until(&c, "#reenabled", |t| !t.is_empty()).await;
    assert_eq!(released, "Re-enabled; 1 held delivery released.");
    text_until(&c, "#state", |t| t.starts_with("Enabled")).await;
    let started = Instant::now();
    while receiver.received().len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the held delivery"
        );
        stack.drain().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // The secret: hidden, revealed, rotated; the next delivery verifies with both.
    let secret = c.find(Locator::Id("secret")).await.unwrap();
    assert!(
        !secret.text().await.unwrap().contains("whsec_"),
        "hidden by default"
    );
    button(&c, "Reveal secret").await.click().await.unwrap();
    assert_eq!(secret.text().await.unwrap(), secret_before);
    button(&c, "Rotate secret").await.click().await.unwrap();
    let explained = text_until(&c, "#rotate-explain", |t| !t.is_empty()).await;
    assert!(explained.contains("24 hours"), "{explained}");
    button(&c, "Rotate now").await.click().await.unwrap();
    text_until(&c, "#rotated", |t| t.starts_with("Secret rotated")).await;
    let secret_after = settings(&stack, &key).await["secret"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(secret_after, secret_before);
    assert_eq!(
        secret.text().await.unwrap(),
        secret_after,
        "the page shows the new one"
    );
    deliver(&stack, &key, "portal-rotated").await;
    let last = receiver.received().last().unwrap().clone();
    for s in [&secret_before, &secret_after] {
        assert!(last.signed_with(s));
    }

    // Replay since an instant: nothing failed for good, nothing re-queued; a bad instant
    // is refused beside its field.
    let since = by_label(&c, "Since").await;
    c.execute(
        "arguments[0].value = '2026-01-01T00:00:00';",
        vec![serde_json::to_value(&since).unwrap()],
    )
    .await
    .unwrap();
    button(&c, "Replay").await.click().await.unwrap();
    let replayed = text_until(&c, "#replayed", |t| !t.is_empty()).await;
    assert_eq!(replayed, "0 deliveries re-queued.");

    // The log download: the same file as the API's.
    for old in std::fs::read_dir(&downloads).unwrap() {
        std::fs::remove_file(old.unwrap().path()).unwrap();
    }
    c.find(Locator::XPath("//a[normalize-space()='Download log']"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let file = downloads.join("outflow-requests.json");
    let started = Instant::now();
    while !file.exists() {
        assert!(started.elapsed() < Duration::from_secs(15), "no download");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let log: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let requests = log["requests"].as_array().unwrap();
    assert_eq!(
        requests.len(),
        6,
        "every request so far, the tests and the failed one included"
    );

    // The chart: the sender's hourly counts of the deliveries above (tests not included).
    c.refresh().await.unwrap();
    let rate = text_until(&c, "#rate", |t| !t.is_empty()).await;
    assert_eq!(rate, "75% succeeded: 3 of 4 requests (1 failed).");
    let failed_bars = c
        .find_all(Locator::Css("#chart rect.bad[data-failed='1']"))
        .await
        .unwrap();
    assert_eq!(failed_bars.len(), 1, "the failed request's hour");
    let hours = c.find_all(Locator::Css("#chart g")).await.unwrap();
    assert_eq!(hours.len(), 24);

    // The keyboard alone reaches every control, each with a visible focus ring.
    c.execute(
        "document.activeElement.blur(); window.scrollTo(0, 0);",
        vec![],
    )
    .await
    .unwrap();
    let mut reached = Vec::new();
    for _ in 0..40 {
        // A key press as the keyboard makes it, not typed into an element.
        let tab = char::from(fantoccini::key::Key::Tab);
        let press = KeyActions::new("keyboard".into())
            .then(KeyAction::Down { value: tab })
            .then(KeyAction::Up { value: tab });
        c.perform_actions(press).await.unwrap();
        let focused = c
            .execute(
                "const e = document.activeElement; const s = getComputedStyle(e);
                 if (e === document.body) return null;
                 return [e.id || e.textContent.trim(), s.outlineStyle !== 'none' && s.outlineWidth !== '0px'];",
                vec![],
            )
            .await
            .unwrap();
        if focused.is_null() {
            break; // past the last control
        }
        let (name, ring) = (
            focused[0].as_str().unwrap().to_string(),
            focused[1].as_bool().unwrap(),
        );
        assert!(ring, "{name} has no visible focus");
        reached.push(name);
    }
    for control in [
        "aggregation",
        "url",
        "enabled",
        "continuous",
        "type-received",
        "type-assigned",
        "save",
        "test",
        "reveal",
        "rotate",
        "since",
        "download",
    ] {
        assert!(
            reached.iter().any(|r| r == control),
            "{control} not reached: {reached:?}"
        );
    }

    // Accessibility: axe-core finds nothing serious or critical.
    let axe = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../infra/portal-test/node_modules/axe-core/axe.min.js"),
    )
    .expect("axe-core: run infra/install-chromium.sh (make test does)");
    c.execute(&axe, vec![]).await.unwrap();
    let violations = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document).then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))));",
            vec![],
        )
        .await
        .unwrap();
    let serious: Vec<&Value> = violations
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .collect();
    assert!(serious.is_empty(), "{serious:?}");

    // Screenshots: desktop and 360 px wide.
    let dir = shots();
    c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    c.set_window_size(1280, 2300).await.unwrap();
    std::fs::write(
        dir.join("portal-desktop.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();
    c.set_window_size(360, 1800).await.unwrap();
    c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    let narrow_overflow = c
        .execute(
            "return document.documentElement.scrollWidth > window.innerWidth;",
            vec![],
        )
        .await
        .unwrap();
    let wide = c
        .execute(
            "return [window.innerWidth, document.documentElement.scrollWidth, \
             [...document.querySelectorAll('*')].filter(e => e.getBoundingClientRect().right > window.innerWidth) \
             .map(e => e.tagName + '#' + e.id + '.' + e.className + ':' + Math.round(e.getBoundingClientRect().right)).slice(0, 8)];",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        narrow_overflow,
        json!(false),
        "no sideways scrolling at 360 px: {wide}"
    );
    std::fs::write(dir.join("portal-360.png"), c.screenshot().await.unwrap()).unwrap();
    c.set_window_size(1280, 1100).await.unwrap();

    // Framed by the allowed origin, it works; by another, the browser refuses it.
    let framed_src = format!("{base}{}", mint(&stack, &ws, None).await);
    let allowed_page = format!("http://{}", framing_page(allowed, framed_src).await);
    c.goto(&format!("{allowed_page}/")).await.unwrap();
    let frame = c.find(Locator::Css("iframe")).await.unwrap();
    frame.enter_frame().await.unwrap();
    text_until(&c, "#state", |t| t.starts_with("Enabled")).await;
    c.enter_parent_frame().await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other = framing_page(listener, format!("{base}{}", mint(&stack, &ws, None).await)).await;
    c.goto(&format!("http://{other}/")).await.unwrap();
    let frame = c.find(Locator::Css("iframe")).await.unwrap();
    frame.enter_frame().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        c.find(Locator::Id("portal")).await.is_err(),
        "an origin not allowed cannot frame the portal"
    );
    c.enter_parent_frame().await.unwrap();

    // Behind an API Gateway stage (`/prod`): the page finds its script, style and API there.
    let staged = serve(axum::Router::new().nest("/prod", stack.app.router())).await;
    let staged_link = mint(&stack, &ws, None).await;
    c.goto(&format!("http://{staged}/prod/portal{staged_link}"))
        .await
        .unwrap();
    text_until(&c, "#state", |t| t.starts_with("Enabled")).await;

    // An expired link, and a revoked one, each say so and what to do.
    let short = mint(&stack, &ws, Some(json!({ "expires_in": 1 }))).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    c.goto(&format!("{base}{short}")).await.unwrap();
    let why = text_until(&c, "#refused-why", |t| !t.is_empty()).await;
    assert_eq!(why, "This link has expired.");
    let refused = c
        .find(Locator::Id("refused"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(refused.contains("get a new link"), "{refused}");
    let live = mint(&stack, &ws, None).await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = stack
        .call(
            Method::POST,
            &format!("/v1/workspaces/{ws}/portal-links/revoke"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    c.goto(&format!("{base}{live}")).await.unwrap();
    let why = text_until(&c, "#refused-why", |t| !t.is_empty()).await;
    assert_eq!(why, "This link was revoked.");

    // The page's weight and how soon it was interactive.
    let weight = outflow_api::portal::page::WEIGHT;
    eprintln!(
        "portal: {weight} bytes (HTML, script, style), DOM interactive after {interactive_ms} ms, \
         settings shown {opened_ms} ms after the link was opened, on the local stack; \
         axe: {} violations, none serious or critical",
        violations.as_array().unwrap().len()
    );
    c.close().await.unwrap();
}

#[tokio::test]
async fn the_portal_lists_the_endpoints_and_manages_each() {
    let stack = TestStack::new().await;
    let api = serve(stack.app.router()).await;
    let (crm, zapier) = (Receiver::start().await, Receiver::start().await);
    let (ws, key) = stack
        .workspace(&stack.unique_email("portal-endpoints"))
        .await;
    stack.register(&key, &crm.url()).await;
    let body = json!({"url": zapier.url(), "description": "Zapier"}).to_string();
    let made = stack
        .call(
            Method::POST,
            "/v1/endpoints",
            Some(&key),
            Some(body.into_bytes()),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    let id = made.body["endpoint_id"].as_str().unwrap().to_string();
    let downloads =
        std::env::temp_dir().join(format!("outflow-downloads-ep-{}", std::process::id()));
    std::fs::create_dir_all(&downloads).unwrap();
    let (_driver, c) = browser(&downloads).await;
    let link = mint(&stack, &ws, None).await;
    c.goto(&format!("http://{api}/portal{link}")).await.unwrap();
    // The list shows before the settings are filled in (they load side by side): wait for
    // both, or the URL reads empty on a busy machine.
    c.wait()
        .for_element(Locator::Css("#workspace:not([hidden])"))
        .await
        .expect("the settings are shown");
    c.wait()
        .for_element(Locator::Css("#endpoints:not([hidden])"))
        .await
        .expect("the endpoints are listed");
    let url = by_label(&c, "Webhook URL").await;
    assert_eq!(
        url.prop("value").await.unwrap().as_deref(),
        Some(crm.url().as_str())
    );

    // The second endpoint, chosen: its settings; a test event reaches its URL only.
    choose(
        &c,
        "Endpoint shown below",
        &format!("Zapier: {}", zapier.url()),
    )
    .await;
    let started = Instant::now();
    while url.prop("value").await.unwrap().as_deref() != Some(zapier.url().as_str()) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "its settings never showed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    button(&c, "Send test event").await.click().await.unwrap();
    text_until(&c, "#test-outcome", |t| t.starts_with("Delivered")).await;
    assert_eq!((crm.received().len(), zapier.received().len()), (0, 1));
    // Whether a closed chat continues is the default's: not offered here.
    let continuous = c.find(Locator::Id("continuous")).await.unwrap();
    assert!(!continuous.is_displayed().await.unwrap());
    // Saved: that endpoint changes, the default does not.
    by_label(&c, "Chat closed").await.click().await.unwrap();
    button(&c, "Save").await.click().await.unwrap();
    text_until(&c, "#saved", |t| t == "Saved.").await;
    let second = stack
        .call(
            Method::GET,
            &format!("/v1/endpoints/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        second.body["event_types"],
        json!(["message:received:new", "message:sent:new", "chat:closed"])
    );
    assert_eq!(
        settings(&stack, &key).await["event_types"],
        json!(["message:received:new", "message:sent:new"])
    );
    c.execute("window.scrollTo(0, 0);", vec![]).await.unwrap();
    c.set_window_size(1280, 1100).await.unwrap();
    std::fs::write(
        shots().join("portal-endpoints.png"),
        c.screenshot().await.unwrap(),
    )
    .unwrap();

    // Added in the page: listed, shown, with its own secret; a refused URL is said.
    let third = Receiver::start().await;
    c.find(Locator::XPath(
        "//summary[normalize-space()='Add an endpoint']",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    let new_url = by_label(&c, "New endpoint URL").await;
    new_url.send_keys("http://10.0.0.1/x").await.unwrap();
    button(&c, "Add endpoint").await.click().await.unwrap();
    let error = text_until(&c, "#new-url-error", |t| !t.is_empty()).await;
    assert!(error.contains("internal address"), "{error}");
    new_url.clear().await.unwrap();
    new_url.send_keys(&third.url()).await.unwrap();
    by_label(&c, "Description")
        .await
        .send_keys("Billing")
        .await
        .unwrap();
    button(&c, "Add endpoint").await.click().await.unwrap();
    text_until(&c, "#added", |t| t.starts_with("Endpoint added")).await;
    assert_eq!(
        url.prop("value").await.unwrap().as_deref(),
        Some(third.url().as_str())
    );
    let list = stack
        .call(Method::GET, "/v1/endpoints", Some(&key), None)
        .await;
    let listed = list.body["endpoints"].as_array().unwrap();
    assert_eq!(listed.len(), 3, "{}", list.body);
    // (The others by id, which is random.)
    let billing = listed
        .iter()
        .find(|e| e["description"] == "Billing")
        .expect("the new endpoint")["endpoint_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Deleted in the page, after a confirmation: gone from the API, the default shown.
    button(&c, "Delete this endpoint")
        .await
        .click()
        .await
        .unwrap();
    button(&c, "Delete now").await.click().await.unwrap();
    text_until(&c, "#added", |t| t.starts_with("Endpoint deleted")).await;
    let gone = stack
        .call(
            Method::GET,
            &format!("/v1/endpoints/{billing}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_eq!(
        url.prop("value").await.unwrap().as_deref(),
        Some(crm.url().as_str())
    );
    c.close().await.unwrap();
}
