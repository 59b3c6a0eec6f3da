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
    /// Object paths (`""` for the record itself) whose undeclared keys are no drift: a declared
    /// response schema's objects with `additionalProperties` (true or a schema).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub open: Vec<String>,
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
                None if self.is_open_at(path) => {}
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

impl Shape {
    /// Whether `path` lies under an open object (or an array of them) of a declared schema.
    fn is_open_at(&self, path: &str) -> bool {
        self.open.iter().any(|o| {
            o.is_empty()
                || path
                    .strip_prefix(o.as_str())
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with("[]"))
        })
    }

    /// The shape a response schema declares for one record (JSON Schema: `type`, `properties`,
    /// `required`, `items`, `additionalProperties`, `nullable`, `anyOf`/`oneOf` of types), as a
    /// complete baseline: a required field (every ancestor required too) can go missing, a
    /// declared type can change, and keys an object does not declare are `added` unless it says
    /// `additionalProperties`. An error names the offending path under the schema
    /// (`properties.id.type`) and what is wrong.
    pub fn from_schema(schema: &Value) -> Result<Shape, (String, String)> {
        let mut shape = Shape {
            records: 1,
            ..Shape::default()
        };
        declare(schema, "", "", true, 0, &mut shape)?;
        Ok(shape)
    }
}

/// JSON Schema type names as shape type names (`integer` is a JSON number).
fn schema_types(schema: &Value, at: &str) -> Result<Vec<String>, (String, String)> {
    let mut types = Vec::new();
    let mut add = |t: &Value, at: String| -> Result<(), (String, String)> {
        let name = match t.as_str() {
            Some("integer") => "number",
            Some(t @ ("null" | "boolean" | "number" | "string" | "array" | "object")) => t,
            _ => return Err((at, format!("{t} is not a JSON Schema type"))),
        };
        if !types.iter().any(|x| x == name) {
            types.push(name.to_owned());
        }
        Ok(())
    };
    match schema.get("type") {
        None => {}
        Some(Value::Array(list)) => {
            for (i, t) in list.iter().enumerate() {
                add(t, format!("{at}type[{i}]"))?;
            }
        }
        Some(t) => add(t, format!("{at}type"))?,
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(variants) = schema.get(key) {
            let Some(variants) = variants.as_array() else {
                return Err((format!("{at}{key}"), "must be an array of schemas".into()));
            };
            for (i, v) in variants.iter().enumerate() {
                for t in schema_types(v, &format!("{at}{key}[{i}]."))? {
                    add(&Value::String(t), String::new())?;
                }
            }
        }
    }
    if schema.get("nullable") == Some(&Value::Bool(true))
        && !types.is_empty()
        && !types.iter().any(|t| t == "null")
    {
        types.push("null".to_owned());
    }
    types.sort();
    Ok(types)
}

/// Declares the fields under `schema` (the value at `path`, `at` its place in the schema);
/// returns the types `schema` allows at `path`.
fn declare(
    schema: &Value,
    path: &str,
    at: &str,
    required: bool,
    depth: usize,
    shape: &mut Shape,
) -> Result<Vec<String>, (String, String)> {
    if !schema.is_object() {
        return Err((
            at.trim_end_matches('.').to_owned(),
            "must be a schema object".into(),
        ));
    }
    let types = schema_types(schema, at)?;
    if depth >= MAX_DEPTH || shape.fields.len() >= MAX_PATHS {
        return Ok(types);
    }
    let names: Vec<&str> = match schema.get("required") {
        None => Vec::new(),
        Some(Value::Array(r)) if r.iter().all(Value::is_string) => {
            r.iter().filter_map(Value::as_str).collect()
        }
        Some(_) => {
            return Err((
                format!("{at}required"),
                "must be an array of property names".into(),
            ));
        }
    };
    if let Some(props) = schema.get("properties") {
        let Some(props) = props.as_object() else {
            return Err((format!("{at}properties"), "must be an object of schemas".into()));
        };
        for (name, child) in props {
            let child_path = if path.is_empty() {
                name.clone()
            } else {
                format!("{path}.{name}")
            };
            let child_at = format!("{at}properties.{name}.");
            let child_required = required && names.contains(&name.as_str());
            let types = declare(child, &child_path, &child_at, child_required, depth + 1, shape)?;
            shape.fields.insert(
                child_path,
                Field {
                    types,
                    present: u64::from(child_required),
                    example: None,
                },
            );
        }
    }
    match schema.get("additionalProperties") {
        None | Some(Value::Bool(false)) => {}
        Some(Value::Bool(true) | Value::Object(_)) => shape.open.push(path.to_owned()),
        Some(_) => {
            return Err((
                format!("{at}additionalProperties"),
                "must be a boolean or a schema".into(),
            ));
        }
    }
    // A record is an object: `items` means something only below it.
    if let Some(items) = schema.get("items").filter(|_| !path.is_empty()) {
        let item_path = format!("{path}[]");
        // Array elements are never required of every record.
        let types = declare(items, &item_path, &format!("{at}items."), false, depth + 1, shape)?;
        shape.fields.insert(
            item_path,
            Field {
                types,
                present: 0,
                example: None,
            },
        );
    }
    Ok(types)
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
    fn a_declared_schema_is_a_complete_baseline() {
        let declared = Shape::from_schema(&json!({
            "type": "object",
            "required": ["id", "properties"],
            "properties": {
                "id": {"type": "string"},
                "archived": {"type": "boolean"},
                "properties": {"type": "object", "additionalProperties": true, "required": ["email"],
                    "properties": {"email": {"type": ["string", "null"]}}},
                "tags": {"type": "array", "items": {"type": "integer"}}
            }
        }))
        .unwrap();
        assert_eq!(declared.fields["tags[]"].types, ["number"]);
        // As declared: nothing drifts, whatever keys sit under the open `properties`.
        let fine = Shape::of(&[json!({"id": "1", "properties": {"email": null, "city": "x"}, "tags": [1]})]);
        assert_eq!(declared.compare(&fine), vec![]);
        let off = Shape::of(&[json!({"id": 1, "archived": "no", "extra": true, "tags": ["a"]})]);
        let drifts = declared.compare(&off);
        let kinds: Vec<(&str, DriftKind)> = drifts.iter().map(|d| (d.path.as_str(), d.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("archived", DriftKind::TypeChanged),
                ("extra", DriftKind::Added),
                ("id", DriftKind::TypeChanged),
                ("properties", DriftKind::Missing),
                ("properties.email", DriftKind::Missing),
                ("tags[]", DriftKind::TypeChanged),
            ]
        );
    }

    #[test]
    fn a_broken_schema_names_its_path() {
        let err = |s: Value| Shape::from_schema(&s).unwrap_err();
        assert_eq!(
            err(json!({"properties": {"id": {"type": "text"}}})).0,
            "properties.id.type"
        );
        assert_eq!(err(json!({"properties": {"id": 3}})).0, "properties.id");
        assert_eq!(err(json!({"required": "id"})).0, "required");
        assert_eq!(
            err(json!({"properties": {"a": {"items": {"type": ["string", 1]}}}})).0,
            "properties.a.items.type[1]"
        );
    }

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
