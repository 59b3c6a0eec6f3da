//! A manifest compiled to a component: the declarative engine, plus a fixed-size slot in its data
//! where `patchbay connector build` writes the manifest. The slot starts with [`MAGIC`], then the
//! manifest's length (u32, little endian), then its bytes; the rest is zeros. Writing the slot
//! changes no offsets, so the component stays valid, and the manifest never leaves the sandbox:
//! an untrusted manifest's expressions run under the component's CPU and memory limits.

use std::sync::OnceLock;

use patchbay_sdk::engine::ManifestHooks;
use patchbay_sdk::{Connector, HookError, types};

/// Marks the manifest slot in the component's bytes.
pub const MAGIC: &[u8; 32] = b"patchbay-manifest-slot-v1\0\0\0\0\0\0\0";
/// Size of the slot: magic, length, manifest.
pub const SLOT_SIZE: usize = 256 * 1024;

#[repr(C)]
struct Slot {
    magic: [u8; 32],
    len: [u8; 4],
    bytes: [u8; SLOT_SIZE - 36],
}

#[used]
static SLOT: Slot = Slot {
    magic: *MAGIC,
    len: [0; 4],
    bytes: [0; SLOT_SIZE - 36],
};

/// The embedded manifest. Read with volatile loads: the compiler must not fold the slot's
/// build-time zeros into the code, since the slot is written after linking.
fn embedded_manifest() -> Result<String, HookError> {
    let read = |p: *const u8| unsafe { std::ptr::read_volatile(p) };
    let len = u32::from_le_bytes(std::array::from_fn(|i| read(&SLOT.len[i]))) as usize;
    if len == 0 || len > SLOT.bytes.len() {
        return Err(HookError::Invalid(
            "no manifest embedded: build this component with `patchbay connector build`".into(),
        ));
    }
    let bytes: Vec<u8> = (0..len).map(|i| read(&SLOT.bytes[i])).collect();
    String::from_utf8(bytes).map_err(|e| HookError::Invalid(format!("embedded manifest: {e}")))
}

fn hooks() -> Result<&'static ManifestHooks, HookError> {
    static HOOKS: OnceLock<Result<ManifestHooks, String>> = OnceLock::new();
    HOOKS
        .get_or_init(|| {
            embedded_manifest()
                .map_err(|e| format!("{e:?}"))
                .and_then(|m| ManifestHooks::new(&m))
        })
        .as_ref()
        .map_err(|e| HookError::Invalid(format!("embedded manifest does not compile: {e}")))
}

struct Manifest;

impl Connector for Manifest {
    fn build_request(account: types::Account, call: types::Call) -> Result<types::HttpRequest, HookError> {
        hooks()?.build_request(account, call)
    }

    fn classify(
        _call: types::Call,
        response: types::HttpResponse,
        now_ms: i64,
    ) -> Result<types::Classification, HookError> {
        Ok(hooks()?.classify(response, now_ms))
    }

    fn read_page(call: types::Call, response: types::HttpResponse) -> Result<types::Payload, HookError> {
        hooks()?.read_page(call, response)
    }

    fn map_records(
        model: String,
        resource: String,
        method: String,
        records: String,
    ) -> Result<String, HookError> {
        hooks()?.map_records(&model, &resource, &method, &records)
    }

    fn map_back(model: String, resource: String, method: String, body: String) -> Result<String, HookError> {
        hooks()?.map_back(&model, &resource, &method, &body)
    }
}

patchbay_sdk::export_connector!(Manifest);
