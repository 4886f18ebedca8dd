//! A webhook receiver on 127.0.0.1 that misbehaves at random: answers 5xx, resets the
//! connection (RST), or stalls past the sender's timeout. Raw HTTP/1.1 over TCP, so a
//! reset is a real one. Seeded, so a failing run can be repeated (`CHAOS_SEED`).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the receiver did with one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Answered 200.
    Ok,
    /// Answered 500 or 503.
    ServerError,
    /// Reset the connection without answering.
    Reset,
    /// Said nothing until the sender gave up.
    Stall,
}

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Hit {
    /// `webhook-id`.
    pub webhook_id: String,
    /// The body.
    pub body: serde_json::Value,
    /// What the receiver did.
    pub outcome: Outcome,
    /// When it arrived.
    pub at: Instant,
}

struct State {
    rng: StdRng,
    behaviour: Behaviour,
    hits: Vec<Hit>,
}

/// How a receiver answers.
#[derive(Debug, Clone, Default)]
pub struct Behaviour {
    /// Share of requests that fail (a third each 5xx, reset, stall).
    pub failure_rate: f64,
    /// How long a stall lasts (past the sender's timeout).
    pub stall: Duration,
    /// How long every 200 takes.
    pub answer_after: Duration,
    /// Bytes of extra headers on every 200 (in headers of 8 KiB).
    pub header_bytes: usize,
}

/// The receiver handle.
#[derive(Clone)]
pub struct ChaosReceiver {
    port: u16,
    state: Arc<Mutex<State>>,
}

impl ChaosReceiver {
    /// Fails `failure_rate` of requests (a third each 5xx, reset, stall of `stall`).
    pub async fn start(seed: u64, failure_rate: f64, stall: Duration) -> Self {
        let behaviour = Behaviour {
            failure_rate,
            stall,
            ..Behaviour::default()
        };
        Self::behaving(seed, behaviour).await
    }

    /// A receiver that answers as `behaviour` says.
    pub async fn behaving(seed: u64, behaviour: Behaviour) -> Self {
        let state = Arc::new(Mutex::new(State {
            rng: StdRng::seed_from_u64(seed),
            behaviour,
            hits: Vec::new(),
        }));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept_state = state.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, accept_state.clone()));
            }
        });
        Self { port, state }
    }

    /// The webhook URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    /// Every request so far, in arrival order.
    pub fn hits(&self) -> Vec<Hit> {
        self.state.lock().unwrap().hits.clone()
    }

    /// How many requests came in.
    pub fn count(&self) -> usize {
        self.state.lock().unwrap().hits.len()
    }
}

/// Serves one keep-alive connection until the client closes it or chaos ends it.
async fn serve(stream: TcpStream, state: Arc<Mutex<State>>) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut webhook_id = String::new();
        let mut first = true;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line == "\r\n" {
                break;
            }
            if first {
                first = false;
                continue;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "webhook-id" => webhook_id = value.to_string(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        let (outcome, behaviour) = {
            let mut s = state.lock().unwrap();
            let roll: f64 = s.rng.gen();
            let rate = s.behaviour.failure_rate;
            let outcome = if roll >= rate {
                Outcome::Ok
            } else if roll < rate / 3.0 {
                Outcome::ServerError
            } else if roll < rate * 2.0 / 3.0 {
                Outcome::Reset
            } else {
                Outcome::Stall
            };
            s.hits.push(Hit {
                webhook_id,
                body: serde_json::from_slice(&body).unwrap_or_default(),
                outcome,
                at: Instant::now(),
            });
            (outcome, s.behaviour.clone())
        };
        let stream = reader.get_mut();
        match outcome {
            Outcome::Ok => {
                tokio::time::sleep(behaviour.answer_after).await;
                if stream
                    .write_all(&ok_reply(behaviour.header_bytes))
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Outcome::ServerError => {
                let reply = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n";
                if stream.write_all(reply).await.is_err() {
                    return;
                }
            }
            Outcome::Reset => {
                // Linger 0: closing sends RST instead of FIN.
                let _ = stream.set_zero_linger();
                return;
            }
            Outcome::Stall => {
                tokio::time::sleep(behaviour.stall).await;
                return;
            }
        }
    }
}

/// A 200 with `header_bytes` of extra headers.
fn ok_reply(header_bytes: usize) -> Vec<u8> {
    let mut reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n".to_vec();
    let chunk = 8 * 1024;
    for i in 0..header_bytes.div_ceil(chunk) {
        let value = "h".repeat(chunk.min(header_bytes - i * chunk));
        reply.extend(format!("x-padding-{i}: {value}\r\n").into_bytes());
    }
    reply.extend(b"\r\nok");
    reply
}
