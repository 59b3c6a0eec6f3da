//! Rate-limit headers as vendors send them (numbers, delta seconds, epoch seconds or
//! milliseconds, HTTP dates, ISO times), read with each bundled connector's dialect.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use patchbay_engine::Headers;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let headers = Headers::new(common::headers(&text));
    for c in common::CONNECTORS.iter() {
        let info = c.rate_limit(&headers, 1_767_225_600_000);
        let _ = info.headers(true);
    }
});
