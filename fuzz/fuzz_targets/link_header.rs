//! RFC 8288 `Link` headers (GitHub's and GitLab's pagination).
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_engine::pagination::link_with_rel;

fuzz_target!(|data: &[u8]| {
    let header = String::from_utf8_lossy(data);
    for rel in ["next", "prev", "last"] {
        let _ = link_with_rel(&header, rel);
    }
});
