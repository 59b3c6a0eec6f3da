//! Manifest loading and compilation: any text is a connector or a list of problems, never a
//! panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_engine::Connector;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = Connector::from_json(text);
    }
});
