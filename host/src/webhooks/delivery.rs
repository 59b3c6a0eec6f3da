//! Outbound delivery: fan each outbox event out to the endpoints that want it (once), then
//! deliver due deliveries, each in its own task, at most a few per endpoint at a time so one slow
//! endpoint never delays the others. Each attempt is signed per Standard Webhooks and recorded
//! with what it decided: success, the next attempt (the schedule with jitter, or `Retry-After`
//! on 429/503), giving up, or disabling the endpoint (`410 Gone`, or failing for too long).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use patchbay_engine::webhook::hmac_sha256;
use rand::Rng;
use serde_json::json;
use tokio::sync::{Notify, Semaphore, watch};

use super::ENDPOINT_DISABLED_EVENT;
use super::endpoints::Endpoints;
use super::intake::GroupCommit;
use super::model::{AttemptOutcome, AttemptRow, DueDelivery, EndpointRow, OutboxEvent, RecordedAttempt};
use crate::clock::{now_ms, rfc3339};
use crate::config::WebhookConfig;
use crate::ssrf;
use crate::store::{Store, StoreError};
use crate::telemetry::events::{WEBHOOK_DELIVERY_FAILED, WEBHOOK_ENDPOINT_DISABLED, WEBHOOK_WORKER_ERROR};
use crate::telemetry::{Metrics, emit};

/// Longest answer excerpt kept per attempt.
const EXCERPT: usize = 1024;
/// How long the delivery loop lets finished attempts and new events accumulate between rounds
/// (each round is a few write transactions; shorter rounds deliver faster to one endpoint and
/// queue more often ahead of acknowledgements).
const ROUND_WINDOW: Duration = Duration::from_millis(5);
/// Most events one fan-out transaction and most attempts one record transaction write: every
/// background transaction holds the write turn that an acknowledgement may be waiting for.
const FAN_OUT_BATCH: i64 = 100;
const RECORD_BATCH: usize = 128;
/// Longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The Standard Webhooks signature of a message: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
/// under the base64-decoded part of a `whsec_` secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Option<String> {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap_or(secret))
        .ok()?;
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    Some(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(hmac_sha256(&key, &message))
    ))
}

/// The delivery side.
#[derive(Debug)]
pub struct Deliverer {
    store: Store,
    endpoints: Arc<Endpoints>,
    http: reqwest::Client,
    config: WebhookConfig,
    metrics: Arc<Metrics>,
    /// Notified when outbox events or re-enabled endpoints need attention.
    pub events_written: Arc<Notify>,
    in_flight: Mutex<HashMap<String, usize>>,
    slots: Arc<Semaphore>,
    /// Attempts are recorded by group commit: one transaction for every attempt that finished
    /// meanwhile.
    recorder: GroupCommit<RecordedAttempt>,
}

impl Deliverer {
    /// The deliverer; its HTTP client follows no redirects and, unless private targets are
    /// allowed, resolves names through the SSRF guard.
    pub fn new(
        store: Store,
        endpoints: Arc<Endpoints>,
        config: WebhookConfig,
        metrics: Arc<Metrics>,
        events_written: Arc<Notify>,
    ) -> Result<Self, reqwest::Error> {
        let mut http = reqwest::Client::builder()
            .timeout(config.delivery_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Patchbay-Webhooks/", env!("CARGO_PKG_VERSION")));
        if !config.allow_private_targets {
            http = http.dns_resolver(Arc::new(ssrf::GuardedResolver));
        }
        let recorder = {
            let store = store.clone();
            GroupCommit::start(
                "delivery-attempts",
                RECORD_BATCH,
                Arc::new(Notify::new()),
                move |batch: Vec<RecordedAttempt>| {
                    let store = store.clone();
                    async move { store.record_attempts(&batch).await }
                },
            )
        };
        Ok(Self {
            recorder,
            store,
            endpoints,
            http: http.build()?,
            slots: Arc::new(Semaphore::new(config.delivery_concurrency.max(1))),
            config,
            metrics,
            events_written,
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Creates the deliveries of events not fanned out yet; returns how many events it handled.
    /// Disabled endpoints get theirs too: they wait, and re-enabling the endpoint delivers them,
    /// so disabling never drops an event (deleting the endpoint does).
    pub async fn fan_out(&self) -> Result<usize, StoreError> {
        let events = self.store.unfanned_events(FAN_OUT_BATCH).await?;
        if events.is_empty() {
            return Ok(0);
        }
        // Read after the events: an endpoint created before an event is then always seen (a
        // list read earlier in the round could miss it, and the event would be marked fanned
        // out without its delivery).
        let endpoints = self.store.endpoints(None).await?;
        let first = now_ms()
            + self
                .config
                .retry_schedule
                .first()
                .map_or(0, |d| d.as_millis() as i64);
        let mut batch = Vec::with_capacity(events.len());
        for event in events {
            let targets: Vec<String> = endpoints
                .iter()
                .filter(|e| match event.endpoint_id.as_deref() {
                    // An event addressed to one endpoint (a test event) ignores its filter.
                    Some(target) => target == e.id,
                    None => e.wants(&event.event_type, event.tenant_id.as_deref()),
                })
                .map(|e| e.id.clone())
                .collect();
            batch.push((event, targets));
        }
        self.store.fan_out(&batch, first).await?;
        Ok(batch.len())
    }

    /// Starts attempts for due deliveries, each in its own task, endpoint by endpoint with at most
    /// `per_endpoint_concurrency` in flight to each (so a slow endpoint holds only its own
    /// slots); returns how many it started.
    pub async fn dispatch_due(self: &Arc<Self>, endpoints: &[EndpointRow]) -> Result<usize, StoreError> {
        let per = self.config.per_endpoint_concurrency.max(1);
        let lease = self
            .config
            .lease
            .max(self.config.delivery_timeout * 2)
            .as_millis() as i64;
        let mut started = 0;
        for endpoint in endpoints.iter().filter(|e| e.enabled) {
            let in_flight = self
                .in_flight
                .lock()
                .expect("in-flight map")
                .get(&endpoint.id)
                .copied()
                .unwrap_or(0);
            let room = per.saturating_sub(in_flight).min(self.slots.available_permits());
            if room == 0 {
                continue;
            }
            let now = now_ms();
            let due = self
                .store
                .claim_deliveries(&endpoint.id, now, now + lease, room as i64)
                .await?;
            for d in due {
                self.spawn_attempt(endpoint.clone(), d).await;
                started += 1;
            }
        }
        Ok(started)
    }

    async fn spawn_attempt(self: &Arc<Self>, endpoint: EndpointRow, d: DueDelivery) {
        let permit = self.slots.clone().acquire_owned().await.expect("semaphore open");
        *self
            .in_flight
            .lock()
            .expect("in-flight map")
            .entry(d.endpoint_id.clone())
            .or_default() += 1;
        let this = self.clone();
        tokio::spawn(async move {
            let endpoint_row = endpoint;
            let endpoint = d.endpoint_id.clone();
            if let Err(e) = this.attempt(&endpoint_row, d).await {
                emit!(ERROR, WEBHOOK_WORKER_ERROR, worker = "delivery", error = %e);
            }
            let mut map = this.in_flight.lock().expect("in-flight map");
            if let Some(c) = map.get_mut(&endpoint) {
                *c -= 1;
                if *c == 0 {
                    map.remove(&endpoint);
                }
            }
            drop(map);
            drop(permit);
            this.events_written.notify_waiters();
        });
    }

    /// One attempt of one delivery, recorded with its outcome. `endpoint` is as the round read
    /// it, just before claiming (no read per delivery: at a thousand deliveries a second each
    /// read was a round trip to a database thread that the acknowledgements queued behind); an
    /// endpoint deleted since takes its pending deliveries with it, and the record of this last
    /// attempt updates nothing.
    async fn attempt(&self, endpoint: &EndpointRow, d: DueDelivery) -> Result<(), StoreError> {
        let attempt = d.attempts + 1;
        let body = json!({
            "type": d.event_type,
            "timestamp": rfc3339(d.event_created_at),
            "data": d.data,
        })
        .to_string();
        let started = Instant::now();
        let sent_at = now_ms();
        let answer = self.send(endpoint, &d.event_id, body).await;
        let took = started.elapsed();
        let duration_ms = took.as_millis() as i64;
        let now = now_ms();
        let (status, excerpt, error, retry_after) = match answer {
            Ok((status, excerpt, retry_after)) => (Some(status), Some(excerpt), None, retry_after),
            Err(e) => (None, None, Some(e), None),
        };
        let outcome = self.decide(endpoint, attempt, status, retry_after, now);
        let next_attempt_at = match &outcome {
            AttemptOutcome::Retry(at) => Some(*at),
            _ => None,
        };
        let row = AttemptRow {
            id: uuid::Uuid::now_v7().to_string(),
            delivery_id: d.id.clone(),
            endpoint_id: d.endpoint_id.clone(),
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            attempt,
            status_code: status.map(i64::from),
            duration_ms,
            response_excerpt: excerpt,
            error: error.clone(),
            at: sent_at,
            next_attempt_at,
        };
        let disabled_event = match &outcome {
            AttemptOutcome::DisableEndpoint(reason) => {
                emit!(WARN, WEBHOOK_ENDPOINT_DISABLED, endpoint = %endpoint.id, reason = %reason);
                Some(OutboxEvent {
                    id: uuid::Uuid::now_v7().to_string(),
                    event_type: ENDPOINT_DISABLED_EVENT.into(),
                    account_id: None,
                    tenant_id: endpoint.tenant_id.clone(),
                    endpoint_id: None,
                    data: json!({"endpoint_id": endpoint.id, "url": endpoint.url, "reason": reason}),
                    created_at: now,
                })
            }
            _ => None,
        };
        let succeeded = matches!(outcome, AttemptOutcome::Succeeded);
        self.metrics.delivery(&d.event_type, succeeded, took);
        if !succeeded {
            emit!(WARN, WEBHOOK_DELIVERY_FAILED, endpoint = %endpoint.id, event = %d.event_id, attempt,
                status = ?status, error = ?error, next_attempt_at = ?next_attempt_at);
        }
        self.recorder
            .write(RecordedAttempt {
                attempt: row,
                outcome,
                disabled_event,
            })
            .await
            .map_err(|e| StoreError::Corrupt(e.to_string()))
    }

    /// POSTs a signed body: the status, an excerpt of the answer and its `Retry-After` (ms).
    async fn send(
        &self,
        endpoint: &EndpointRow,
        event_id: &str,
        body: String,
    ) -> Result<(u16, String, Option<i64>), String> {
        let url = ssrf::check_url(&endpoint.url, self.config.allow_private_targets)?;
        let secret = self.endpoints.secret(endpoint).map_err(|e| e.to_string())?;
        let timestamp = now_ms() / 1000;
        let signature = sign(&secret, event_id, timestamp, body.as_bytes())
            .ok_or_else(|| "the endpoint secret does not decode".to_owned())?;
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await
            .map_err(|e| describe(&e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut excerpt = Vec::new();
        let mut response = response;
        while excerpt.len() < EXCERPT {
            match response.chunk().await {
                Ok(Some(chunk)) => excerpt.extend_from_slice(&chunk),
                _ => break,
            }
        }
        excerpt.truncate(EXCERPT);
        Ok((
            status,
            String::from_utf8_lossy(&excerpt).into_owned(),
            retry_after,
        ))
    }

    /// What an attempt's answer decides.
    fn decide(
        &self,
        endpoint: &EndpointRow,
        attempt: i64,
        status: Option<u16>,
        retry_after: Option<i64>,
        now: i64,
    ) -> AttemptOutcome {
        match status {
            Some(200..=299) => return AttemptOutcome::Succeeded,
            Some(410) => return AttemptOutcome::DisableEndpoint("the endpoint answered 410 Gone".into()),
            _ => {}
        }
        let failing_for = now - endpoint.failing_since.unwrap_or(now);
        if failing_for >= self.config.disable_after.as_millis() as i64 {
            return AttemptOutcome::DisableEndpoint(format!(
                "every attempt failed for {} s (--delivery-disable-after)",
                failing_for / 1000
            ));
        }
        let Some(delay) = self.config.retry_schedule.get(attempt as usize) else {
            return AttemptOutcome::GaveUp;
        };
        let honoured = match status {
            Some(429 | 503) => retry_after,
            _ => None,
        };
        let delay_ms = match honoured {
            Some(ms) => ms.min(MAX_RETRY_AFTER.as_millis() as i64),
            None => jitter(delay.as_millis() as i64),
        };
        AttemptOutcome::Retry(now + delay_ms)
    }
}

/// ±10 % of a delay, so endpoints that failed together are not retried together.
fn jitter(ms: i64) -> i64 {
    if ms < 10 {
        return ms;
    }
    let spread = ms / 10;
    ms + rand::thread_rng().gen_range(-spread..=spread)
}

/// `Retry-After` as delay-seconds or an HTTP date, in ms from now.
fn parse_retry_after(v: &str) -> Option<i64> {
    if let Ok(s) = v.trim().parse::<i64>() {
        return Some(s.max(0).saturating_mul(1000));
    }
    // An HTTP date (IMF-fixdate) is RFC 2822 with `GMT`.
    let at = chrono::DateTime::parse_from_rfc2822(v.trim()).ok()?;
    Some((at.timestamp_millis() - now_ms()).max(0))
}

fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The delivery loop: fan out, start due attempts, then wait for new events, a finished attempt
/// or the tick.
pub async fn run(deliverer: Arc<Deliverer>, tick: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        let woken = deliverer.events_written.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let mut worked = false;
        match deliverer.fan_out().await {
            Ok(n) => worked |= n > 0,
            Err(e) => emit!(ERROR, WEBHOOK_WORKER_ERROR, worker = "fan-out", error = %e),
        }
        match deliverer.store.endpoints(None).await {
            Ok(endpoints) => match deliverer.dispatch_due(&endpoints).await {
                Ok(n) => worked |= n > 0,
                Err(e) => emit!(ERROR, WEBHOOK_WORKER_ERROR, worker = "delivery", error = %e),
            },
            Err(e) => emit!(ERROR, WEBHOOK_WORKER_ERROR, worker = "delivery", error = %e),
        }
        if !worked {
            tokio::select! {
                _ = &mut woken => {}
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => return,
            }
        }
        if *stop.borrow() {
            return;
        }
        // Let finished attempts and new events accumulate: each round is write transactions.
        tokio::time::sleep(ROUND_WINDOW).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_reference() {
        // libraries/rust/src/lib.rs `test_sign` of standard-webhooks.
        assert_eq!(
            sign(
                "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            )
            .unwrap(),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("7"), Some(7000));
        assert_eq!(parse_retry_after("-3"), Some(0));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(parse_retry_after("soon"), None);
    }
}
