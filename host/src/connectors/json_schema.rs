//! Compiling the JSON Schemas the host validates with: the manifest schema and the unified
//! models' schemas (`connectors/unified/*.schema.json`).
//!
//! They are compiled with draft-07 semantics whatever their `$schema` says. Compiling any
//! 2020-12 schema makes `jsonschema` build and keep its 2020-12 meta-schema validator, about
//! 70 MiB of heap for the life of the process (measured with valgrind's massif: most of the
//! idle host's memory), where draft-07's is small. The schemas here use nothing draft-07 lacks,
//! and a schema that does is refused with the keyword's path rather than having it ignored.

use serde_json::Value;

/// Keywords of drafts 2019-09 and 2020-12 that draft-07 does not know.
const NEWER_KEYWORDS: [&str; 12] = [
    "prefixItems",
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$anchor",
    "unevaluatedProperties",
    "unevaluatedItems",
    "dependentRequired",
    "dependentSchemas",
    "minContains",
    "maxContains",
];

/// A validator of `schema`, or why it cannot be one.
pub fn compile(schema: &Value) -> Result<jsonschema::Validator, String> {
    if let Some(path) = newer_keyword(schema, "$") {
        return Err(format!(
            "{path}: this keyword is not supported (schemas are evaluated with draft-07 keywords)"
        ));
    }
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft7)
        .build(schema)
        .map_err(|e| e.to_string())
}

/// The JSON path of the first newer keyword used as a keyword (not as a property's name).
fn newer_keyword(v: &Value, at: &str) -> Option<String> {
    match v {
        Value::Object(map) => map.iter().find_map(|(k, child)| {
            let path = format!("{at}.{k}");
            if NEWER_KEYWORDS.contains(&k.as_str()) {
                return Some(path);
            }
            // Under `properties` (and the like) the keys are names, but their values are schemas.
            if matches!(
                k.as_str(),
                "properties" | "$defs" | "definitions" | "patternProperties"
            ) && let Value::Object(named) = child
            {
                return named
                    .iter()
                    .find_map(|(name, s)| newer_keyword(s, &format!("{path}.{name}")));
            }
            newer_keyword(child, &path)
        }),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, s)| newer_keyword(s, &format!("{at}[{i}]"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_bundled_schemas_compile_and_validate_as_declared() {
        let manifest = compile(&patchbay_engine::manifest::schema()).unwrap();
        assert!(!manifest.is_valid(&json!({"name": 1})));
        let contact = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"id": {"type": "string"}, "prefixItems": {"type": "string"}}, "required": ["id"]});
        let v = compile(&contact).unwrap();
        assert!(v.is_valid(&json!({"id": "1"})));
        assert!(!v.is_valid(&json!({"id": 1})));
        assert!(!v.is_valid(&json!({})));
    }

    #[test]
    fn a_keyword_draft_07_lacks_is_refused_with_its_path() {
        let schema = json!({"type": "object", "properties": {"tags": {"type": "array", "prefixItems": [{"type": "string"}]}}});
        let e = compile(&schema).unwrap_err();
        assert!(e.starts_with("$.properties.tags.prefixItems:"), "{e}");
    }
}
