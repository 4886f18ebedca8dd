//! A Lambda runtime API emulator on 127.0.0.1, and a function's `bootstrap` binary run
//! against it the way the Lambda service runs it. The EMF tests read the process's stdout;
//! the init-time and memory benchmarks time its first poll and read its peak RSS.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path as FsPath, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

/// What went wrong running a function locally.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// The emulator or the process could not start.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The function binary is not built.
    #[error("function binary {0} not found: build it first (cargo build --workspace --bins)")]
    NotBuilt(PathBuf),
    /// No answer in time.
    #[error("the function did not answer within {0:?}")]
    Timeout(Duration),
    /// The function reported an invocation error.
    #[error("the function reported an error: {0}")]
    Failed(String),
    /// The function's resident memory passed its memory size, and it was killed.
    #[error("out of memory: peak {peak_kib} KiB over the function's {limit_mib} MB")]
    OutOfMemory {
        /// Peak resident memory when it was killed (KiB).
        peak_kib: u64,
        /// The function's memory size (MB, as Lambda counts them: MiB).
        limit_mib: u64,
    },
}

/// The memory size the template gives every function (its `Globals`; a test checks that no
/// function has one of its own). 128 MB would bill ingest's duration $0.04 per million
/// messages less, but each invocation would hold its share of the reserved concurrency half
/// as long again (docs/performance.md §0, round 4).
pub const TEMPLATE_MEMORY_MIB: u64 = 256;

/// One event waiting for the function's next poll.
struct Pending {
    id: String,
    event: Vec<u8>,
    deadline_ms: u64,
}

type Answer = Result<Value, String>;

struct Shared {
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    answers: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    first_poll: OnceLock<Instant>,
    /// When each invocation was handed to the function, until it answers.
    handed: Mutex<HashMap<String, Instant>>,
    /// Each answered invocation's duration, as Lambda times it (event handed to answer).
    durations: Mutex<Vec<Duration>>,
}

/// The runtime API (`/2018-06-01/runtime/...`) served on 127.0.0.1.
pub struct RuntimeApi {
    address: SocketAddr,
    queue: mpsc::UnboundedSender<Pending>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    server: tokio::task::JoinHandle<()>,
}

impl RuntimeApi {
    /// Starts the emulator on a free loopback port.
    pub async fn start() -> Result<Self, EmulatorError> {
        let (queue, events) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            events: tokio::sync::Mutex::new(events),
            answers: Mutex::new(HashMap::new()),
            first_poll: OnceLock::new(),
            handed: Mutex::default(),
            durations: Mutex::default(),
        });
        let routes = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(respond),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(fail))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let address = listener.local_addr()?;
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, routes).await;
        });
        Ok(Self {
            address,
            queue,
            shared,
            next_id: AtomicU64::new(1),
            server,
        })
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// When the function first asked for an event: the end of its init.
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.first_poll.get().copied()
    }

    /// The durations of the invocations answered since the last call (event handed out
    /// to answer posted: what Lambda bills), and starts again.
    pub fn take_durations(&self) -> Vec<Duration> {
        std::mem::take(
            &mut *self
                .shared
                .durations
                .lock()
                .expect("runtime API state lock"),
        )
    }

    /// Invokes the function with `event` and waits for its answer.
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> Result<Value, EmulatorError> {
        let id = format!(
            "00000000-0000-4000-8000-{:012}",
            self.next_id.fetch_add(1, Ordering::Relaxed)
        );
        let (tx, rx) = oneshot::channel();
        self.shared
            .answers
            .lock()
            .expect("runtime API state lock")
            .insert(id.clone(), tx);
        let deadline_ms = outflow::clock::Clock::system_deadline(timeout)
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        let pending = Pending {
            id,
            event: serde_json::to_vec(event).expect("JSON event"),
            deadline_ms,
        };
        if self.queue.send(pending).is_err() {
            return Err(EmulatorError::Failed("the emulator stopped".into()));
        }
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => Err(EmulatorError::Timeout(timeout)),
            Ok(Err(_)) => Err(EmulatorError::Failed("no answer recorded".into())),
            Ok(Ok(answer)) => answer.map_err(EmulatorError::Failed),
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> Result<(HeaderMap, Vec<u8>), StatusCode> {
    let _ = shared.first_poll.set(Instant::now());
    let pending = shared
        .events
        .lock()
        .await
        .recv()
        .await
        .ok_or(StatusCode::GONE)?;
    shared
        .handed
        .lock()
        .expect("runtime API state lock")
        .insert(pending.id.clone(), Instant::now());
    let mut headers = HeaderMap::new();
    let header = |v: &str| HeaderValue::from_str(v).expect("header value");
    headers.insert("lambda-runtime-aws-request-id", header(&pending.id));
    headers.insert(
        "lambda-runtime-deadline-ms",
        header(&pending.deadline_ms.to_string()),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        header("arn:aws:lambda:us-east-1:000000000000:function:outflow-local"),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        header("Root=1-00000000-000000000000000000000000;Sampled=0"),
    );
    headers.insert("content-type", header("application/json"));
    Ok((headers, pending.event))
}

fn answer(shared: &Shared, id: &str, answer: Answer) -> StatusCode {
    let handed = shared
        .handed
        .lock()
        .expect("runtime API state lock")
        .remove(id);
    if let Some(handed) = handed {
        let took = handed.elapsed();
        shared
            .durations
            .lock()
            .expect("runtime API state lock")
            .push(took);
    }
    match shared
        .answers
        .lock()
        .expect("runtime API state lock")
        .remove(id)
    {
        Some(tx) => {
            let _ = tx.send(answer);
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn respond(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
    answer(&shared, &id, Ok(value))
}

async fn fail(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> StatusCode {
    answer(
        &shared,
        &id,
        Err(String::from_utf8_lossy(&body).into_owned()),
    )
}

async fn init_error(body: axum::body::Bytes) -> StatusCode {
    tracing::error!(error = %String::from_utf8_lossy(&body), "function init failed");
    StatusCode::ACCEPTED
}

/// `POST /v1/events` with `body`, as API Gateway's HTTP API (payload 2.0) hands it to the
/// ingest function.
pub fn ingest_request_event(key: &str, body: &str) -> Value {
    let headers = [("content-type", "application/json")];
    http_api_request_event(("POST", "/v1/events"), key, &headers, body)
}

/// A request with `key` as its bearer credential, `headers` and `body`, as API Gateway's
/// HTTP API (payload 2.0) hands it to a function (the api's or ingest's route).
pub fn http_api_request_event(
    (method, path): (&str, &str),
    key: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Value {
    let route = format!("{method} {path}");
    let mut all = serde_json::Map::new();
    all.insert("authorization".into(), format!("Bearer {key}").into());
    for (name, value) in headers {
        all.insert(name.to_string(), value.to_string().into());
    }
    serde_json::json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": all,
        "requestContext": {
            "accountId": "000000000000", "apiId": "local", "domainName": "localhost",
            "domainPrefix": "localhost", "requestId": "local", "routeKey": route,
            "stage": "$default", "time": "22/Nov/2026:10:00:00 +0000", "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "outflow-local"}
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// The same request through the ingest function's URL (the template's `IngestUrl`), as
/// Lambda hands a function URL's request over (payload 2.0, AWS's documented example for
/// `AuthType: NONE`: no authorizer, stage `$default`, the URL's own domain).
pub fn function_url_request_event(key: &str, body: &str) -> Value {
    let url_id = "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6";
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/v1/events",
        "rawQueryString": "",
        "headers": {
            "authorization": format!("Bearer {key}"),
            "content-type": "application/json",
            "host": format!("{url_id}.lambda-url.us-east-1.on.aws"),
            "x-forwarded-proto": "https",
            "user-agent": "Chatwoot"
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": format!("{url_id}.lambda-url.us-east-1.on.aws"),
            "domainPrefix": url_id,
            "http": {"method": "POST", "path": "/v1/events", "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "Chatwoot"},
            "requestId": "c2f2b6bb-9d3c-4b4c-9c34-000000000001",
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Dec/2026:10:00:00 +0000",
            "timeEpoch": 1_796_205_600_000_u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

/// A function binary running against a [`RuntimeApi`], its stdout and stderr captured.
pub struct FunctionProcess {
    child: Child,
    started: Instant,
    output: Arc<Mutex<Vec<String>>>,
    memory_mib: u64,
}

impl FunctionProcess {
    /// Starts `binary` as Lambda would (`AWS_LAMBDA_*` set, JSON log format), with `env`
    /// added (the `OUTFLOW_*` settings, the AWS endpoint and credentials), at the memory
    /// size the template gives it.
    pub fn spawn(
        binary: &FsPath,
        function_name: &str,
        api: &RuntimeApi,
        env: &[(String, String)],
    ) -> Result<Self, EmulatorError> {
        Self::spawn_sized(binary, function_name, api, env, TEMPLATE_MEMORY_MIB)
    }

    /// As [`Self::spawn`], with a memory size of `memory_mib`: like Lambda, an invocation
    /// whose process grows past it is killed ([`EmulatorError::OutOfMemory`]).
    pub fn spawn_sized(
        binary: &FsPath,
        function_name: &str,
        api: &RuntimeApi,
        env: &[(String, String)],
        memory_mib: u64,
    ) -> Result<Self, EmulatorError> {
        if !binary.is_file() {
            return Err(EmulatorError::NotBuilt(binary.to_path_buf()));
        }
        let mut command = Command::new(binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", api.address().to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory_mib.to_string())
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "local")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = command.spawn()?;
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            collect_lines(stdout, output.clone());
        }
        if let Some(stderr) = child.stderr.take() {
            collect_lines(stderr, output.clone());
        }
        Ok(Self {
            child,
            started,
            output,
            memory_mib,
        })
    }

    /// Process start to the first poll of the runtime API, once it has polled.
    pub fn init_time(&self, api: &RuntimeApi) -> Option<Duration> {
        api.first_poll().map(|at| at - self.started)
    }

    /// Waits (up to `timeout`) for the function to finish its init.
    pub async fn ready(
        &self,
        api: &RuntimeApi,
        timeout: Duration,
    ) -> Result<Duration, EmulatorError> {
        poll_until(timeout, Duration::from_millis(1), || self.init_time(api))
            .await
            .ok_or_else(|| {
                EmulatorError::Failed(format!(
                    "no poll within {timeout:?}; output: {:?}",
                    self.lines()
                ))
            })
    }

    /// The lines printed since the last call (what Lambda sends to CloudWatch Logs), and
    /// starts again.
    pub fn take_lines(&self) -> Vec<String> {
        std::mem::take(&mut *self.output.lock().expect("runtime API state lock"))
    }

    /// Every line the process printed so far (stdout and stderr interleaved).
    pub fn lines(&self) -> Vec<String> {
        self.output.lock().expect("runtime API state lock").clone()
    }

    /// Waits (up to `timeout`) until some printed line satisfies `wanted`; returns it.
    pub async fn wait_for_line(
        &self,
        timeout: Duration,
        wanted: impl Fn(&str) -> bool,
    ) -> Option<String> {
        poll_until(timeout, Duration::from_millis(10), || {
            let lines = self.output.lock().expect("runtime API state lock");
            lines.iter().find(|l| wanted(l)).cloned()
        })
        .await
    }

    /// Peak resident memory so far in KiB (Linux `VmHWM`).
    pub fn peak_rss_kib(&self) -> Option<u64> {
        peak_rss_kib(self.child.id()?)
    }

    /// Its memory size (MB).
    pub fn memory_mib(&self) -> u64 {
        self.memory_mib
    }

    /// CPU time the process has used so far, user and system, every thread's (Linux
    /// `/proc/<pid>/stat`).
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(self.child.id()?)
    }

    /// Invokes the function as Lambda does with a timeout and a memory size: `deadline`
    /// from now is the invocation's deadline (`Lambda-Runtime-Deadline-Ms`), and a
    /// function that has not answered by then is killed (`Ok(None)`); one whose resident
    /// memory passes its memory size is killed at once ([`EmulatorError::OutOfMemory`]).
    pub async fn invoke_or_kill(
        &mut self,
        api: &RuntimeApi,
        event: &Value,
        deadline: Duration,
    ) -> Result<Option<Value>, EmulatorError> {
        let limit_kib = self.memory_mib * 1024;
        let pid = self.child.id();
        let over_limit = poll_until(deadline + Duration::from_secs(1), MEMORY_POLL, || {
            pid.and_then(peak_rss_kib).filter(|&peak| peak > limit_kib)
        });
        let out_of_memory = |peak_kib| EmulatorError::OutOfMemory {
            peak_kib,
            limit_mib: self.memory_mib,
        };
        let answer = tokio::select! {
            answer = api.invoke(event, deadline) => answer,
            Some(peak_kib) = over_limit => Err(out_of_memory(peak_kib)),
        };
        // An answer that came within one poll of passing the limit is no answer either.
        let answer = match pid.and_then(peak_rss_kib).filter(|&peak| peak > limit_kib) {
            Some(peak_kib) => Err(out_of_memory(peak_kib)),
            None => answer,
        };
        match answer {
            Ok(answer) => Ok(Some(answer)),
            Err(EmulatorError::Timeout(_)) => {
                self.child.kill().await?;
                Ok(None)
            }
            Err(e @ EmulatorError::OutOfMemory { .. }) => {
                self.child.kill().await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Stops the process.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// `binary` started against an emulator of its own at `memory_mib`, as
/// [`FunctionProcess::spawn_sized`] starts it, once its init is done (up to 30 s).
pub async fn start_function(
    binary: &FsPath,
    function_name: &str,
    env: &[(String, String)],
    memory_mib: u64,
) -> Result<(RuntimeApi, FunctionProcess), EmulatorError> {
    let api = RuntimeApi::start().await?;
    let process = FunctionProcess::spawn_sized(binary, function_name, &api, env, memory_mib)?;
    process.ready(&api, Duration::from_secs(30)).await?;
    Ok((api, process))
}

/// Peak resident memory of process `pid` in KiB (Linux `VmHWM`).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// CPU time of process `pid`, user and system, of all its threads, dead ones included
/// (`utime` and `stime` of `/proc/<pid>/stat`, in clock ticks).
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name in parentheses may hold spaces: the fields start after its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // Fields 14 and 15 of the line; 12 and 13 counted from the state (field 3).
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 1000 / CLOCK_TICKS_PER_SECOND))
}

/// Linux's `USER_HZ`, the unit of `/proc/<pid>/stat`'s times: 100 on x86_64 and arm64,
/// where the benchmarks run.
const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// How often an invocation's memory is looked at; the peak (`VmHWM`) misses nothing in
/// between, the kill only comes up to this much later.
const MEMORY_POLL: Duration = Duration::from_millis(5);

/// Checks every `step` until `check` gives a value or `timeout` has passed.
async fn poll_until<T>(
    timeout: Duration,
    step: Duration,
    check: impl Fn() -> Option<T>,
) -> Option<T> {
    let until = Instant::now() + timeout;
    loop {
        if let Some(found) = check() {
            return Some(found);
        }
        if Instant::now() >= until {
            return None;
        }
        tokio::time::sleep(step).await;
    }
}

fn collect_lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    output: Arc<Mutex<Vec<String>>>,
) {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            output.lock().expect("runtime API state lock").push(line);
        }
    });
}

/// A workspace binary next to the running executable (a test's `deps/` folder or a bench
/// binary's profile folder), e.g. `target/debug/outflow-sender`.
pub fn sibling_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current executable");
    let mut dir = exe.parent().expect("executable folder").to_path_buf();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir.join(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_function_runs_at_the_templates_memory_size() {
        let template = include_str!("../../../template.yaml");
        let sizes: Vec<&str> = template
            .lines()
            .filter_map(|l| l.trim().strip_prefix("MemorySize: "))
            .collect();
        // The Globals' only: no function has a size of its own.
        assert_eq!(sizes, [TEMPLATE_MEMORY_MIB.to_string()]);
        assert!(template
            .split("\nResources:\n")
            .next()
            .is_some_and(|globals| globals.contains("MemorySize: ")));
    }

    #[test]
    fn a_process_cpu_time_counts_what_it_ran() {
        let cpu = || cpu_time(std::process::id()).expect("this process's CPU time");
        let before = cpu();
        // Spinning on one thread: the count grows by whole 10 ms ticks, however loaded the
        // machine is; a count that never moved would keep it spinning to the end.
        let started = Instant::now();
        let mut x = 0u64;
        while cpu() - before < Duration::from_millis(50)
            && started.elapsed() < Duration::from_secs(20)
        {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        assert!(
            cpu() - before >= Duration::from_millis(50),
            "{:?}",
            cpu() - before
        );
    }
}
