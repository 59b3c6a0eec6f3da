//! Connector packages in one `.wasm` file: `patchbay connector build` appends a manifest to the
//! manifest-engine component as a `patchbay-manifest` custom section. The host reads the section
//! without running anything, compiles the component without it (so every compiled manifest
//! shares one compiled engine), and hands the manifest to the component's `init`.

use std::borrow::Cow;
use std::ops::Range;

use serde_json::Value;

/// Name of the custom section holding the manifest.
pub const MANIFEST_SECTION: &str = "patchbay-manifest";
/// The hooks the manifest-engine component serves.
pub const ENGINE_HOOKS: [&str; 5] = [
    "build_request",
    "classify",
    "read_page",
    "map_records",
    "map_back",
];

/// Why a package cannot be built or read.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The engine component is not the expected one.
    #[error("{0}")]
    Engine(String),
    /// The manifest cannot be packaged.
    #[error("{0}")]
    Manifest(String),
}

/// Compiles a manifest into a component: the engine component with the manifest in a custom
/// section. The embedded manifest declares the engine's hooks, so every step of every call runs
/// inside the sandbox.
pub fn build(engine: &[u8], manifest: &str) -> Result<Vec<u8>, PackageError> {
    let mut value: Value = serde_json::from_str(manifest)
        .map_err(|e| PackageError::Manifest(format!("manifest is not JSON: {e}")))?;
    let Value::Object(obj) = &mut value else {
        return Err(PackageError::Manifest("manifest is not a JSON object".into()));
    };
    if obj.contains_key("component") {
        return Err(PackageError::Manifest(
            "the manifest already names a component ($.component): only declarative manifests compile to one"
                .into(),
        ));
    }
    obj.insert("component".into(), serde_json::json!({ "hooks": ENGINE_HOOKS }));
    if !engine.starts_with(b"\0asm\x0d\0\x01\0") {
        return Err(PackageError::Engine(
            "the engine is not a WebAssembly component".into(),
        ));
    }
    if embedded_manifest(engine).is_some() {
        return Err(PackageError::Engine(
            "the engine component already embeds a manifest".into(),
        ));
    }
    let text = serde_json::to_string_pretty(&value).expect("JSON serializes");
    let mut out = engine.to_vec();
    append_custom_section(&mut out, MANIFEST_SECTION, text.as_bytes());
    Ok(out)
}

/// A top-level section of a component: its id, its name when it is a custom section, and where
/// it is (header included).
struct Section<'a> {
    name: Option<&'a [u8]>,
    range: Range<usize>,
    body: &'a [u8],
}

fn sections(component: &[u8]) -> Option<Vec<Section<'_>>> {
    let mut out = Vec::new();
    let mut at = 8;
    while at < component.len() {
        let id = component[at];
        let (size, n) = leb128(component.get(at + 1..)?)?;
        let start = at + 1 + n;
        let body = component.get(start..start + size)?;
        let (name, body) = if id == 0 {
            let (len, m) = leb128(body)?;
            (Some(body.get(m..m + len)?), &body[m + len..])
        } else {
            (None, body)
        };
        out.push(Section {
            name,
            range: at..start + size,
            body,
        });
        at = start + size;
    }
    Some(out)
}

fn is_manifest(s: &Section<'_>) -> bool {
    s.name == Some(MANIFEST_SECTION.as_bytes())
}

/// The manifest a component embeds (`None`: it has none), read from its custom section.
pub fn embedded_manifest(component: &[u8]) -> Option<Result<String, PackageError>> {
    let section = sections(component)?.into_iter().find(is_manifest)?;
    Some(
        String::from_utf8(section.body.to_vec())
            .map_err(|e| PackageError::Manifest(format!("embedded manifest is not UTF-8: {e}"))),
    )
}

/// The component without its manifest section: what gets compiled, so that components differing
/// only in their embedded manifest share one compiled artifact.
pub fn without_manifest(component: &[u8]) -> Cow<'_, [u8]> {
    let Some(sections) = sections(component) else {
        return Cow::Borrowed(component);
    };
    let cut: Vec<Range<usize>> = sections
        .iter()
        .filter(|s| is_manifest(s))
        .map(|s| s.range.clone())
        .collect();
    if cut.is_empty() {
        return Cow::Borrowed(component);
    }
    let mut out = Vec::with_capacity(component.len());
    let mut at = 0;
    for r in cut {
        out.extend_from_slice(&component[at..r.start]);
        at = r.end;
    }
    out.extend_from_slice(&component[at..]);
    Cow::Owned(out)
}

fn leb128(bytes: &[u8]) -> Option<(usize, usize)> {
    let mut value: u64 = 0;
    for (i, b) in bytes.iter().take(5).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value as usize, i + 1));
        }
    }
    None
}

fn write_leb128(out: &mut Vec<u8>, mut value: usize) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn append_custom_section(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut body = Vec::with_capacity(name.len() + data.len() + 5);
    write_leb128(&mut body, name.len());
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(data);
    out.push(0);
    write_leb128(out, body.len());
    out.extend_from_slice(&body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_sections_round_trip_and_strip() {
        let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        append_custom_section(&mut bytes, "other", b"x");
        assert!(embedded_manifest(&bytes).is_none());
        let plain = bytes.clone();
        let long = "m".repeat(300);
        append_custom_section(&mut bytes, MANIFEST_SECTION, long.as_bytes());
        assert_eq!(embedded_manifest(&bytes).unwrap().unwrap(), long);
        assert_eq!(&*without_manifest(&bytes), plain.as_slice());
    }

    #[test]
    fn build_needs_a_component_and_a_declarative_manifest() {
        let err = build(b"\0asm\x01\x00\x00\x00", r#"{"name":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("not a WebAssembly component"), "{err}");
        let err = build(b"", r#"{"component":{"hooks":[]}}"#).unwrap_err();
        assert!(err.to_string().contains("$.component"), "{err}");
    }
}
