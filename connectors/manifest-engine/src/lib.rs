//! A manifest compiled to a component: the declarative engine as a component. `patchbay
//! connector build` appends the manifest to it as a `patchbay-manifest` custom section; the host
//! reads that section and hands the manifest to `init` on every new instance. The engine's code is
//! the same for every manifest, so the host compiles it once and shares it, and an untrusted
//! manifest's expressions run under the component's CPU and memory limits.

use std::sync::OnceLock;

use patchbay_sdk::engine::ManifestHooks;
use patchbay_sdk::{Connector, HookError, types};

static HOOKS: OnceLock<ManifestHooks> = OnceLock::new();

fn hooks() -> Result<&'static ManifestHooks, HookError> {
    HOOKS
        .get()
        .ok_or_else(|| HookError::Invalid("no manifest: the host calls init first".into()))
}

struct Manifest;

impl Connector for Manifest {
    fn init(manifest: String) -> Result<(), HookError> {
        let hooks = ManifestHooks::new(&manifest)
            .map_err(|e| HookError::Invalid(format!("the manifest does not compile: {e}")))?;
        // An instance serves one manifest for its whole life.
        let _ = HOOKS.set(hooks);
        Ok(())
    }

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
