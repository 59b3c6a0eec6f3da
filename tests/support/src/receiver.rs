//! A product's webhook receiver on loopback: records every delivery with its Standard Webhooks
//! headers, checks the signature independently of the host (HMAC-SHA256 of `id.timestamp.body`
//! under the decoded `whsec_` secret), answers scripted statuses, and can be down.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// One received delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: String,
    /// `webhook-signature`.
    pub signature: String,
    /// The raw body.
    pub raw: String,
    /// The body as JSON.
    pub body: Value,
    /// Whether the signature verified against the receiver's secret.
    pub valid: bool,
    /// What the receiver answered.
    pub answered: u16,
}

#[derive(Default)]
struct Inner {
    secret: Option<String>,
    deliveries: Vec<Delivery>,
    script: VecDeque<(u16, Option<String>)>,
    delay: Option<Duration>,
}

/// The receiver.
#[derive(Clone)]
pub struct Receiver {
    /// `http://127.0.0.1:PORT/hook`.
    pub url: String,
    /// Its address.
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
}

/// Verifies a Standard Webhooks signature header (any of its space-separated `v1,` entries).
pub fn verify_standard(secret: &str, id: &str, timestamp: &str, body: &[u8], header: &str) -> bool {
    let Ok(key) = base64::engine::general_purpose::STANDARD.decode(secret.trim_start_matches("whsec_"))
    else {
        return false;
    };
    header
        .split(' ')
        .filter_map(|e| e.strip_prefix("v1,"))
        .any(|sig| {
            let Ok(tag) = base64::engine::general_purpose::STANDARD.decode(sig) else {
                return false;
            };
            let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
            mac.update(format!("{id}.{timestamp}.").as_bytes());
            mac.update(body);
            mac.verify_slice(&tag).is_ok()
        })
}

async fn receive(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let get = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (id, timestamp, signature) = (
        get("webhook-id"),
        get("webhook-timestamp"),
        get("webhook-signature"),
    );
    let (delay, status, retry_after) = {
        let mut i = inner.lock().unwrap();
        let (status, retry_after) = i.script.pop_front().unwrap_or((200, None));
        let valid = i
            .secret
            .as_deref()
            .is_some_and(|s| verify_standard(s, &id, &timestamp, &body, &signature));
        i.deliveries.push(Delivery {
            id,
            timestamp,
            signature,
            raw: String::from_utf8_lossy(&body).into_owned(),
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            valid,
            answered: status,
        });
        (i.delay, status, retry_after)
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), "ok").into_response();
    if let Some(r) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", HeaderValue::from_str(&r).unwrap());
    }
    response
}

impl Receiver {
    /// Starts a receiver on a fresh loopback port.
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener)
    }

    /// Starts a receiver on a given address (to bring a "down" receiver up).
    pub async fn start_on(addr: SocketAddr) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        Self::serve(listener)
    }

    fn serve(listener: tokio::net::TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            url: format!("http://{addr}/hook"),
            addr,
            inner,
        }
    }

    /// An address nothing listens on (yet): a receiver that is down.
    pub async fn unused_addr() -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    }

    /// The endpoint secret to verify with.
    pub fn set_secret(&self, secret: &str) {
        self.inner.lock().unwrap().secret = Some(secret.to_owned());
    }

    /// Answers the next deliveries with these statuses (and `Retry-After`), then 200.
    pub fn answer_next(&self, answers: &[(u16, Option<&str>)]) {
        let mut i = self.inner.lock().unwrap();
        i.script
            .extend(answers.iter().map(|(s, r)| (*s, r.map(str::to_owned))));
    }

    /// Waits this long before answering.
    pub fn set_delay(&self, delay: Option<Duration>) {
        self.inner.lock().unwrap().delay = delay;
    }

    /// Everything received, in order.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.inner.lock().unwrap().deliveries.clone()
    }

    /// Received deliveries of one event type.
    pub fn of_type(&self, event_type: &str) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.body["type"] == event_type)
            .collect()
    }

    /// Distinct `webhook-id`s answered 2xx.
    pub fn delivered_ids(&self) -> HashSet<String> {
        self.deliveries()
            .into_iter()
            .filter(|d| (200..300).contains(&d.answered))
            .map(|d| d.id)
            .collect()
    }

    /// The `webhook-id`s each vendor event (`data.vendor_event_id`) was delivered under (answered
    /// 200), every signature checked: more than one id for an event is a duplicated event.
    pub fn ids_by_vendor_event(&self) -> std::collections::HashMap<String, HashSet<String>> {
        let mut by_vendor: std::collections::HashMap<String, HashSet<String>> = Default::default();
        for d in self.deliveries().into_iter().filter(|d| d.answered == 200) {
            assert!(d.valid, "delivery signature");
            let v = d.body["data"]["vendor_event_id"].as_str().unwrap().to_owned();
            by_vendor.entry(v).or_default().insert(d.id);
        }
        by_vendor
    }

    /// Waits until `done` holds for the deliveries (panics after `timeout`).
    pub async fn wait_until(&self, timeout: Duration, done: impl Fn(&[Delivery]) -> bool) -> Vec<Delivery> {
        let started = Instant::now();
        loop {
            {
                // Checked under the lock: a long run of deliveries is not copied every poll.
                let inner = self.inner.lock().unwrap();
                if done(&inner.deliveries) {
                    return inner.deliveries.clone();
                }
            }
            assert!(
                started.elapsed() < timeout,
                "receiver waited {timeout:?}; got {:?}",
                {
                    let d = self.deliveries();
                    (
                        d.len(),
                        d.iter().map(|d| d.body["type"].clone()).collect::<Vec<_>>(),
                    )
                }
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
