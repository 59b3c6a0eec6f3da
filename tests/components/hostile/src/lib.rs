//! A connector component that misbehaves on purpose, to test the sandbox's limits. Its
//! `build_request` hook does what the resource name says: `ok` answers normally; `spin` loops
//! forever; `bomb` allocates until memory runs out; `recurse` recurses until the stack
//! overflows; `panic` panics. Its `init` refuses a manifest whose `display_name` is
//! `reject-init`.

use patchbay_sdk::types::{Account, Call, HttpRequest};
use patchbay_sdk::{Connector, HookError};

struct Hostile;

#[inline(never)]
fn recurse(depth: u64, trail: &mut Vec<u64>) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    let here = [depth; 64];
    trail.push(here[(depth % 64) as usize]);
    1 + recurse(std::hint::black_box(depth + 1), trail) + here[3]
}

impl Connector for Hostile {
    fn init(manifest: String) -> Result<(), HookError> {
        if manifest.contains("\"display_name\":\"reject-init\"") {
            return Err(HookError::Invalid("this manifest is not for me".into()));
        }
        Ok(())
    }

    fn build_request(account: Account, call: Call) -> Result<HttpRequest, HookError> {
        match call.resource.as_str() {
            "spin" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "recurse" => {
                let mut trail = Vec::new();
                let n = recurse(0, &mut trail);
                Err(HookError::Invalid(format!("recursion ended at {n}")))
            }
            "panic" => panic!("hostile component panicked on purpose in {}", call.method),
            _ => Ok(HttpRequest {
                method: "GET".into(),
                url: format!(
                    "{}/{}",
                    account.base_url.as_deref().unwrap_or("http://127.0.0.1:9"),
                    call.resource
                ),
                headers: vec![],
                body: None,
            }),
        }
    }
}

patchbay_sdk::export_connector!(Hostile);
