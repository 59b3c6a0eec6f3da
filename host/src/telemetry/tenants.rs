//! The cardinality guard of per-tenant series: the `limit` busiest tenants keep their own
//! `tenant` label, every other tenant is counted as `other`, so a host with a million tenants
//! still exports a bounded number of series.
//!
//! Volumes are counted for every tenant seen (in a bounded table); a tenant outside the labelled
//! set takes the place of the quietest labelled tenant once it has made more calls. A tenant that
//! loses its place keeps its past counts in its own series; its new calls go to `other`.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Default number of tenants that keep their label.
pub const DEFAULT_TENANT_LIMIT: usize = 100;

/// The label of tenants outside the top N.
pub const OTHER: &str = "other";

#[derive(Debug, Default)]
struct State {
    /// Calls per tenant seen.
    volume: HashMap<String, u64>,
    /// Tenants that keep their label.
    labelled: HashSet<String>,
}

/// Which tenants keep their label.
#[derive(Debug)]
pub struct TenantGuard {
    limit: usize,
    state: Mutex<State>,
}

impl TenantGuard {
    /// A guard keeping `limit` labels (0: every tenant is `other`).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            state: Mutex::default(),
        }
    }

    /// Counts one call of `tenant` and returns the label to count it under.
    pub fn label(&self, tenant: &str) -> String {
        if self.limit == 0 {
            return OTHER.to_owned();
        }
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let volume = match s.volume.get_mut(tenant) {
            Some(v) => {
                *v += 1;
                *v
            }
            None => {
                // Bounded memory: past ten times the limit, forget the tenants seen least.
                if s.volume.len() >= self.limit * 10 {
                    let labelled = std::mem::take(&mut s.labelled);
                    s.volume.retain(|t, v| labelled.contains(t) || *v > 1);
                    if s.volume.len() >= self.limit * 10 {
                        s.volume.retain(|t, _| labelled.contains(t));
                    }
                    s.labelled = labelled;
                }
                s.volume.insert(tenant.to_owned(), 1);
                1
            }
        };
        if s.labelled.contains(tenant) {
            return tenant.to_owned();
        }
        if s.labelled.len() < self.limit {
            s.labelled.insert(tenant.to_owned());
            return tenant.to_owned();
        }
        let quietest = s
            .labelled
            .iter()
            .map(|t| (s.volume.get(t).copied().unwrap_or(0), t))
            .min()
            .map(|(v, t)| (v, t.clone()));
        match quietest {
            Some((v, t)) if volume > v => {
                s.labelled.remove(&t);
                s.labelled.insert(tenant.to_owned());
                tenant.to_owned()
            }
            _ => OTHER.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_busiest_keep_their_label() {
        let g = TenantGuard::new(2);
        assert_eq!(g.label("a"), "a");
        assert_eq!(g.label("b"), "b");
        assert_eq!(g.label("c"), OTHER, "the set is full");
        for _ in 0..5 {
            g.label("a");
        }
        // c overtakes b (1 call) on its second call, and takes its place.
        assert_eq!(g.label("c"), "c");
        assert_eq!(g.label("b"), OTHER);
        assert_eq!(g.label("a"), "a");
        assert_eq!(TenantGuard::new(0).label("a"), OTHER);
    }

    #[test]
    fn memory_stays_bounded() {
        let g = TenantGuard::new(3);
        for i in 0..10_000 {
            g.label(&format!("t{i}"));
        }
        let s = g.state.lock().unwrap();
        assert!(s.volume.len() <= 30 && s.labelled.len() <= 3);
    }
}
