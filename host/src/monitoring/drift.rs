//! Schema drift of vendor records: per connector resource, a baseline shape (the first sampled
//! answers, persisted) and the fields seen since that were added, went missing or changed type.
//!
//! The hot path pays one lock and a clock read per call ([`Drift::should_sample`]); a sampled
//! answer is read and compared on a separate task, at most once per resource per
//! `sample_interval`, so a busy resource costs a bounded amount whatever its traffic.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use patchbay_engine::shape::{DriftKind, FieldDrift, Shape};
use serde::Serialize;
use serde_json::Value;

use crate::clock::{now_ms, rfc3339};
use crate::store::{Store, StoreError};
use crate::telemetry::emit;
use crate::telemetry::events::MONITORING_DRIFT_DETECTED;

/// How many sampled answers make up a baseline before comparisons start.
pub const LEARNING_SAMPLES: u64 = 3;

/// A drifted field as reported.
#[derive(Debug, Clone, Serialize)]
pub struct DriftedField {
    /// What drifted.
    #[serde(flatten)]
    pub field: FieldDrift,
    /// First seen (RFC 3339).
    pub first_seen: String,
    /// Last seen (RFC 3339).
    pub last_seen: String,
    /// In how many samples.
    pub samples: u64,
}

/// One resource's drift.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceDrift {
    /// The vendor resource.
    pub resource: String,
    /// Samples folded into the baseline.
    pub baseline_samples: u64,
    /// Records the baseline was built from.
    pub baseline_records: u64,
    /// Samples compared since the baseline was complete or last accepted.
    pub samples: u64,
    /// Where the baseline came from: `response_schema` (the manifest declares the record shape),
    /// `samples` (learned from the first sampled answers) or `accepted` (read back from the
    /// database: learned or accepted before).
    pub baseline_source: &'static str,
    /// When the last sample was taken (RFC 3339).
    pub last_sample: Option<String>,
    /// Drifted fields, by path.
    pub fields: Vec<DriftedField>,
}

#[derive(Debug, Default)]
struct Resource {
    last_sample: Option<Instant>,
    /// `None` until read from the database.
    baseline: Option<(Shape, u64)>,
    baseline_source: &'static str,
    samples: u64,
    last_sample_at: Option<i64>,
    drifts: BTreeMap<(String, DriftKind), (FieldDrift, i64, i64, u64)>,
}

/// Drift of every connector's resources in this process.
#[derive(Debug)]
pub struct Drift {
    store: Store,
    sample_interval: Duration,
    resources: Mutex<HashMap<(String, String), Resource>>,
}

impl Drift {
    /// Drift tracking sampling each resource at most once per `sample_interval`.
    pub fn new(store: Store, sample_interval: Duration) -> Self {
        Self {
            store,
            sample_interval,
            resources: Mutex::default(),
        }
    }

    /// Whether this call's answer should be sampled (and, if so, notes that it is).
    pub fn should_sample(&self, connector: &str, resource: &str) -> bool {
        let mut all = self.resources.lock().unwrap_or_else(|e| e.into_inner());
        let key = (connector.to_owned(), resource.to_owned());
        let r = all.entry(key).or_default();
        if r.last_sample
            .is_some_and(|at| at.elapsed() < self.sample_interval)
        {
            return false;
        }
        r.last_sample = Some(Instant::now());
        true
    }

    /// Folds sampled records in: into the baseline while it is learning, else compared to it.
    /// A baseline in the database (learned or accepted earlier) comes first, then the shape the
    /// manifest declares (`declared`, complete from the first sample), then learning.
    pub async fn observe(
        &self,
        connector: &str,
        resource: &str,
        declared: Option<&Shape>,
        records: &[Value],
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let observed = Shape::of(records);
        let key = (connector.to_owned(), resource.to_owned());
        let loaded = self.lock_resource(&key, |r| r.baseline.is_some());
        if !loaded {
            let stored = self.store.schema_baseline(connector, resource).await?;
            let parsed =
                stored.and_then(|(json, n)| serde_json::from_str::<Shape>(&json).ok().map(|s| (s, n)));
            self.lock_resource(&key, |r| {
                if r.baseline.is_none() {
                    let (baseline, source) = match (parsed, declared) {
                        (Some(stored), _) => (stored, "accepted"),
                        (None, Some(d)) => ((d.clone(), LEARNING_SAMPLES), "response_schema"),
                        (None, None) => (Default::default(), "samples"),
                    };
                    r.baseline = Some(baseline);
                    r.baseline_source = source;
                }
            });
        }
        let now = now_ms();
        let learned = self.lock_resource(&key, |r| {
            let (baseline, n) = r.baseline.as_mut().expect("loaded above");
            if *n < LEARNING_SAMPLES {
                baseline.merge(&observed);
                *n += 1;
                return Some((baseline.clone(), *n));
            }
            r.samples += 1;
            r.last_sample_at = Some(now);
            for d in baseline.compare(&observed) {
                let entry = r
                    .drifts
                    .entry((d.path.clone(), d.kind))
                    .or_insert_with(|| (d.clone(), now, now, 0));
                if entry.3 == 0 {
                    emit!(WARN, MONITORING_DRIFT_DETECTED, connector = %connector, resource = %resource,
                        path = %d.path, kind = d.kind.as_str());
                }
                entry.0 = d;
                entry.2 = now;
                entry.3 += 1;
            }
            None
        });
        if let Some((shape, n)) = learned {
            self.persist(connector, resource, &shape, n).await?;
        }
        Ok(())
    }

    /// Takes what was observed as the new baseline: drifted fields become expected ones.
    pub async fn accept(&self, connector: &str) -> Result<usize, StoreError> {
        let mut accepted = Vec::new();
        {
            let mut all = self.resources.lock().unwrap_or_else(|e| e.into_inner());
            for ((c, resource), r) in all.iter_mut().filter(|((c, _), _)| c == connector) {
                let Some((baseline, n)) = r.baseline.as_mut() else {
                    continue;
                };
                if r.drifts.is_empty() {
                    continue;
                }
                let mut seen = Shape::default();
                for (d, ..) in r.drifts.values() {
                    seen.fields.insert(
                        d.path.clone(),
                        patchbay_engine::shape::Field {
                            types: d.observed.clone(),
                            present: 0,
                            example: d.example.clone(),
                        },
                    );
                }
                baseline.merge(&seen);
                // A field gone missing is no longer one every record has.
                for (d, ..) in r.drifts.values().filter(|(d, ..)| d.kind == DriftKind::Missing) {
                    if let Some(f) = baseline.fields.get_mut(&d.path) {
                        f.present = 0;
                    }
                }
                r.drifts.clear();
                r.samples = 0;
                r.baseline_source = "accepted";
                accepted.push((c.clone(), resource.clone(), baseline.clone(), *n));
            }
        }
        for (c, resource, shape, n) in &accepted {
            self.persist(c, resource, shape, *n).await?;
        }
        Ok(accepted.len())
    }

    /// A connector's resources, with their drifted fields.
    pub fn report(&self, connector: &str) -> Vec<ResourceDrift> {
        let all = self.resources.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<ResourceDrift> = all
            .iter()
            .filter(|((c, _), r)| c == connector && r.baseline.is_some())
            .map(|((_, resource), r)| {
                let (baseline, n) = r.baseline.as_ref().expect("filtered");
                ResourceDrift {
                    resource: resource.clone(),
                    baseline_samples: *n,
                    baseline_records: baseline.records,
                    samples: r.samples,
                    baseline_source: r.baseline_source,
                    last_sample: r.last_sample_at.and_then(rfc3339),
                    fields: r
                        .drifts
                        .values()
                        .map(|(field, first, last, samples)| DriftedField {
                            field: field.clone(),
                            first_seen: rfc3339(*first).unwrap_or_default(),
                            last_seen: rfc3339(*last).unwrap_or_default(),
                            samples: *samples,
                        })
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.resource.cmp(&b.resource));
        out
    }

    /// Drifted fields per (connector, resource, kind), every kind of every sampled resource (0
    /// included), for the metrics.
    pub fn counts(&self) -> Vec<(String, String, &'static str, i64)> {
        let all = self.resources.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for ((c, resource), r) in all.iter().filter(|(_, r)| r.baseline.is_some()) {
            for kind in DriftKind::ALL {
                let n = r.drifts.keys().filter(|(_, k)| *k == kind).count() as i64;
                out.push((c.clone(), resource.clone(), kind.as_str(), n));
            }
        }
        out
    }

    fn lock_resource<T>(&self, key: &(String, String), f: impl FnOnce(&mut Resource) -> T) -> T {
        let mut all = self.resources.lock().unwrap_or_else(|e| e.into_inner());
        f(all.entry(key.clone()).or_default())
    }

    async fn persist(
        &self,
        connector: &str,
        resource: &str,
        shape: &Shape,
        samples: u64,
    ) -> Result<(), StoreError> {
        let json = serde_json::to_string(shape).unwrap_or_default();
        self.store
            .put_schema_baseline(connector, resource, &json, samples as i64, now_ms())
            .await
    }
}
