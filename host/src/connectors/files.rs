//! Reading the connectors directory: which files are connectors, a manifest with the component
//! it names (or a component with its manifest embedded), and the unified model schemas.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use patchbay_engine::Problem;
use serde_json::Value;

use super::validate::{FileReport, problem};
use crate::sandbox::package;

/// File name of the generated manifest schema inside the connectors directory.
pub const SCHEMA_FILE: &str = "manifest.schema.json";
/// Subdirectory holding unified model schemas (`<model>.<resource>.schema.json`).
pub const UNIFIED_DIR: &str = "unified";

/// The manifest files of a directory (sorted; the schema file and subdirectories excluded).
pub fn manifest_files(dir: &Path, errors: &mut Vec<FileReport>) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_manifest_file(p))
            .collect(),
        Err(e) => {
            errors.push(FileReport {
                file: dir.display().to_string(),
                problems: problem("$", format!("cannot read connectors directory: {e}")),
            });
            Vec::new()
        }
    };
    files.sort();
    files
}

/// Whether a path is a connector: a manifest (`*.json`, not the schema file), or a component
/// that embeds its manifest (`*.wasm` built by `patchbay connector build`). A component that a
/// manifest names through `component.path` is read with that manifest.
pub fn is_manifest_file(path: &Path) -> bool {
    let Some(ext) = path.extension() else {
        return false;
    };
    if ext == "wasm" {
        return path.is_file()
            && std::fs::read(path).is_ok_and(|bytes| package::embedded_manifest(&bytes).is_some());
    }
    ext == "json" && path.file_name().is_some_and(|n| n != SCHEMA_FILE) && path.is_file()
}

/// Reads a connector file: a manifest and the component its `component.path` names, or a
/// component with an embedded manifest.
pub fn read_package(path: &Path) -> Result<(String, Option<Vec<u8>>), Vec<Problem>> {
    if path.extension().is_some_and(|e| e == "wasm") {
        let bytes = std::fs::read(path).map_err(|e| problem("$", format!("cannot read: {e}")))?;
        return match package::embedded_manifest(&bytes) {
            Some(Ok(text)) => Ok((text, Some(bytes))),
            Some(Err(e)) => Err(problem("$", e.to_string())),
            None => Err(problem(
                "$",
                "component embeds no manifest (build it with `patchbay connector build`)",
            )),
        };
    }
    let text = std::fs::read_to_string(path).map_err(|e| problem("$", format!("cannot read: {e}")))?;
    let component_path = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
        v.pointer("/component/path")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let component = match component_path {
        None => None,
        Some(rel) => {
            let full = path.parent().unwrap_or(Path::new(".")).join(&rel);
            Some(std::fs::read(&full).map_err(|e| {
                problem(
                    "$.component.path",
                    format!("cannot read component {}: {e}", full.display()),
                )
            })?)
        }
    };
    Ok((text, component))
}

/// Unified model schemas by `(model, resource)`; files that are not valid JSON Schemas are reported.
pub fn load_unified_schemas(dir: &Path, errors: &mut Vec<FileReport>) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for path in entries.filter_map(|e| e.ok().map(|e| e.path())) {
        let Some(name) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".schema.json"))
        else {
            continue;
        };
        let Some((model, resource)) = name.split_once('.') else {
            continue;
        };
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
            .and_then(|v| super::json_schema::compile(&v).map(|_| v));
        match parsed {
            Ok(v) => {
                out.insert((model.to_owned(), resource.to_owned()), v);
            }
            Err(message) => errors.push(FileReport {
                file: path.display().to_string(),
                problems: problem("$", message),
            }),
        }
    }
    out
}
