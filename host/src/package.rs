//! Connector packages in one `.wasm` file: `patchbay connector build` writes a manifest into the
//! manifest-engine component (its data slot, read by the guest) and into a `patchbay-manifest`
//! custom section (read by the host without running anything).

use serde_json::Value;

/// Name of the custom section holding the manifest.
pub const MANIFEST_SECTION: &str = "patchbay-manifest";
/// Start of the manifest slot in the manifest-engine component (`connectors/manifest-engine`).
pub const SLOT_MAGIC: &[u8; 32] = b"patchbay-manifest-slot-v1\0\0\0\0\0\0\0";
/// Size of the slot: magic, length (u32 LE), manifest bytes.
pub const SLOT_SIZE: usize = 256 * 1024;
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

/// Compiles a manifest into a component: the engine component with the manifest in its slot and
/// in a custom section. The embedded manifest declares the engine's hooks, so every step of every
/// call runs inside the sandbox.
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
    let text = serde_json::to_string_pretty(&value).expect("JSON serializes");
    if text.len() > SLOT_SIZE - 36 {
        return Err(PackageError::Manifest(format!(
            "manifest is {} bytes; a compiled component holds at most {}",
            text.len(),
            SLOT_SIZE - 36
        )));
    }
    let mut out = engine.to_vec();
    let mut found = out
        .windows(SLOT_MAGIC.len())
        .enumerate()
        .filter(|(_, w)| w == SLOT_MAGIC)
        .map(|(i, _)| i);
    let (Some(at), None) = (found.next(), found.next()) else {
        return Err(PackageError::Engine(
            "not the manifest-engine component (no single manifest slot found)".into(),
        ));
    };
    if embedded_manifest(engine).is_some() {
        return Err(PackageError::Engine(
            "the engine component already embeds a manifest".into(),
        ));
    }
    let len = at + SLOT_MAGIC.len();
    out[len..len + 4].copy_from_slice(&(text.len() as u32).to_le_bytes());
    out[len + 4..len + 4 + text.len()].copy_from_slice(text.as_bytes());
    append_custom_section(&mut out, MANIFEST_SECTION, text.as_bytes());
    Ok(out)
}

/// The manifest a component embeds (`None`: it has none), read from its custom section.
pub fn embedded_manifest(component: &[u8]) -> Option<Result<String, PackageError>> {
    let mut rest = component.get(8..)?;
    while !rest.is_empty() {
        let id = rest[0];
        let (size, n) = leb128(&rest[1..])?;
        let body = rest.get(1 + n..1 + n + size)?;
        rest = &rest[1 + n + size..];
        if id != 0 {
            continue;
        }
        let (name_len, m) = leb128(body)?;
        let name = body.get(m..m + name_len)?;
        if name == MANIFEST_SECTION.as_bytes() {
            let data = &body[m + name_len..];
            return Some(
                String::from_utf8(data.to_vec())
                    .map_err(|e| PackageError::Manifest(format!("embedded manifest is not UTF-8: {e}"))),
            );
        }
    }
    None
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
    fn custom_sections_round_trip() {
        let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        append_custom_section(&mut bytes, "other", b"x");
        assert!(embedded_manifest(&bytes).is_none());
        let long = "m".repeat(300);
        append_custom_section(&mut bytes, MANIFEST_SECTION, long.as_bytes());
        assert_eq!(embedded_manifest(&bytes).unwrap().unwrap(), long);
    }

    #[test]
    fn build_needs_the_engine_slot() {
        let err = build(b"\0asm\x0d\x00\x01\x00", r#"{"name":"x"}"#).unwrap_err();
        assert!(err.to_string().contains("manifest slot"), "{err}");
        let err = build(b"", r#"{"component":{"hooks":[]}}"#).unwrap_err();
        assert!(err.to_string().contains("$.component"), "{err}");
    }
}
