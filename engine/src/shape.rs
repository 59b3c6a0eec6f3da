//! Record shapes, for schema drift: the field paths of a sample of vendor records with the JSON
//! types seen at each, and how an observed shape differs from a baseline. Pure functions; the
//! host decides when to sample and keeps the baselines.
//!
//! Paths join object keys with `.` and mark array elements with `[]` (`tags[]`,
//! `properties.email`). Depth and the number of paths are bounded, so a hostile or huge record
//! costs a bounded amount.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How deep paths go.
const MAX_DEPTH: usize = 8;
/// How many paths a shape keeps.
const MAX_PATHS: usize = 512;
/// How many characters an example keeps.
const EXAMPLE_CHARS: usize = 80;

/// JSON types, as names (`null`, `boolean`, `number`, `string`, `array`, `object`).
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// What was seen at one path.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// The JSON types seen (sorted, `null` included).
    pub types: Vec<String>,
    /// In how many of the shape's records the path was present.
    pub present: u64,
    /// A value seen there (truncated), for people reading a drift report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub example: Option<String>,
}

/// The fields of a set of records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// How many records it was built from.
    pub records: u64,
    /// Fields by path.
    pub fields: BTreeMap<String, Field>,
}

/// How a field differs from the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DriftKind {
    /// A path the baseline never had.
    Added,
    /// A path every baseline record had, absent from every observed record.
    Missing,
    /// A path whose non-null type is one the baseline never saw there.
    TypeChanged,
}

impl DriftKind {
    /// Every kind.
    pub const ALL: [DriftKind; 3] = [DriftKind::Added, DriftKind::Missing, DriftKind::TypeChanged];

    /// The name (`added`, `missing`, `type_changed`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Added => "added",
            Self::Missing => "missing",
            Self::TypeChanged => "type_changed",
        }
    }
}

/// One drifted field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDrift {
    /// The path.
    pub path: String,
    /// How it drifted.
    pub kind: DriftKind,
    /// The types the baseline has there (empty when added).
    pub expected: Vec<String>,
    /// The types observed (empty when missing).
    pub observed: Vec<String>,
    /// An observed value (added, type changed) or a baseline one (missing).
    pub example: Option<String>,
}

impl Shape {
    /// The shape of `records` (objects; other values count as records without fields).
    pub fn of(records: &[Value]) -> Self {
        let mut shape = Shape::default();
        for r in records {
            shape.add(r);
        }
        shape
    }

    /// Adds one record.
    pub fn add(&mut self, record: &Value) {
        self.records += 1;
        let mut seen = Vec::new();
        walk(record, String::new(), 0, &mut |path, v| seen.push((path, v)));
        let mut counted = std::collections::BTreeSet::new();
        for (path, v) in seen {
            if !self.fields.contains_key(&path) && self.fields.len() >= MAX_PATHS {
                continue;
            }
            let field = self.fields.entry(path.clone()).or_default();
            let k = kind(v);
            if !field.types.iter().any(|t| t == k) {
                field.types.push(k.to_owned());
                field.types.sort();
            }
            if field.example.is_none() && !v.is_null() {
                field.example = Some(example(v));
            }
            if counted.insert(path) {
                field.present += 1;
            }
        }
    }

    /// Folds `other` into this shape (accepting a new shape as the baseline keeps what both saw).
    pub fn merge(&mut self, other: &Shape) {
        self.records += other.records;
        for (path, f) in &other.fields {
            if !self.fields.contains_key(path) && self.fields.len() >= MAX_PATHS {
                continue;
            }
            let mine = self.fields.entry(path.clone()).or_default();
            for t in &f.types {
                if !mine.types.contains(t) {
                    mine.types.push(t.clone());
                }
            }
            mine.types.sort();
            mine.present += f.present;
            if mine.example.is_none() {
                mine.example = f.example.clone();
            }
        }
    }

    /// How `observed` differs from this baseline, sorted by path. Only fields every baseline
    /// record had can be missing (an optional field absent from a page is no drift), and `null`
    /// changes no type (vendors send null for unset values of any type).
    pub fn compare(&self, observed: &Shape) -> Vec<FieldDrift> {
        let mut out = Vec::new();
        if observed.records == 0 || self.records == 0 {
            return out;
        }
        for (path, seen) in &observed.fields {
            match self.fields.get(path) {
                None => out.push(FieldDrift {
                    path: path.clone(),
                    kind: DriftKind::Added,
                    expected: Vec::new(),
                    observed: seen.types.clone(),
                    example: seen.example.clone(),
                }),
                Some(base) => {
                    let base_types: Vec<&String> = base.types.iter().filter(|t| *t != "null").collect();
                    let new = seen.types.iter().any(|t| t != "null" && !base_types.contains(&t));
                    if new && !base_types.is_empty() {
                        out.push(FieldDrift {
                            path: path.clone(),
                            kind: DriftKind::TypeChanged,
                            expected: base.types.clone(),
                            observed: seen.types.clone(),
                            example: seen.example.clone(),
                        });
                    }
                }
            }
        }
        for (path, base) in &self.fields {
            if base.present == self.records && !observed.fields.contains_key(path) {
                out.push(FieldDrift {
                    path: path.clone(),
                    kind: DriftKind::Missing,
                    expected: base.types.clone(),
                    observed: Vec::new(),
                    example: base.example.clone(),
                });
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }
}

/// Calls `f` with every (path, value) under `v`; the root itself is not a field.
fn walk<'a>(v: &'a Value, prefix: String, depth: usize, f: &mut impl FnMut(String, &'a Value)) {
    if depth >= MAX_DEPTH {
        return;
    }
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                f(path.clone(), child);
                walk(child, path, depth + 1, f);
            }
        }
        Value::Array(items) if !prefix.is_empty() => {
            let path = format!("{prefix}[]");
            for child in items {
                f(path.clone(), child);
                walk(child, path.clone(), depth + 1, f);
            }
        }
        _ => {}
    }
}

fn example(v: &Value) -> String {
    let text = match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    };
    match text.char_indices().nth(EXAMPLE_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_and_types() {
        let s = Shape::of(&[
            json!({"id": 1, "properties": {"email": "a@x"}, "tags": ["x", 2]}),
            json!({"id": 2, "properties": {"email": null}}),
        ]);
        assert_eq!(s.records, 2);
        assert_eq!(s.fields["id"].types, ["number"]);
        assert_eq!(s.fields["properties.email"].types, ["null", "string"]);
        assert_eq!(s.fields["tags[]"].types, ["number", "string"]);
        assert_eq!(s.fields["tags"].present, 1);
        assert_eq!(s.fields["properties.email"].example.as_deref(), Some("\"a@x\""));
    }

    #[test]
    fn drift_is_added_missing_or_type_changed() {
        let base = Shape::of(&[
            json!({"id": 1, "amount": 10, "note": "x"}),
            json!({"id": 2, "amount": 11}),
        ]);
        let now = Shape::of(&[json!({"id": "3", "amount": null, "currency": "eur"})]);
        let d = base.compare(&now);
        let kinds: Vec<_> = d.iter().map(|f| (f.path.as_str(), f.kind)).collect();
        assert_eq!(
            kinds,
            [("currency", DriftKind::Added), ("id", DriftKind::TypeChanged)],
            "null is no type change; `note` was optional, so its absence is no drift"
        );
        let gone = Shape::of(&[json!({"id": 4})]);
        assert_eq!(base.compare(&gone)[0].kind, DriftKind::Missing);
        assert!(
            base.compare(&Shape::default()).is_empty(),
            "no records, no verdict"
        );
        let mut accepted = base.clone();
        accepted.merge(&now);
        assert!(accepted.compare(&now).is_empty());
    }

    #[test]
    fn bounded() {
        let mut deep = json!(1);
        for _ in 0..100 {
            deep = json!({ "a": deep });
        }
        let wide: serde_json::Map<String, Value> = (0..2000).map(|i| (format!("k{i}"), json!(i))).collect();
        let s = Shape::of(&[deep, Value::Object(wide)]);
        assert!(s.fields.len() <= MAX_PATHS);
        assert!(s.fields.keys().all(|p| p.split('.').count() <= MAX_DEPTH));
        let long = Shape::of(&[json!({"s": "é".repeat(500)})]);
        assert!(long.fields["s"].example.as_ref().unwrap().chars().count() <= EXAMPLE_CHARS + 1);
    }
}
