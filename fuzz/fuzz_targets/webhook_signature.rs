//! Webhook signature headers and timestamps (Stripe's `t=,v1=`, GitHub's `sha256=`, Slack's
//! `v0=` with its timestamp header, HubSpot v3, Shopify, Twilio): arbitrary headers and bodies
//! are verified by each bundled connector's scheme; only a rejection may come out.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use patchbay_engine::Headers;
use patchbay_engine::webhook::WebhookRequest;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 3);
    let headers = Headers::new(common::headers(&p[0]));
    let req = WebhookRequest {
        method: "POST",
        url: "https://patchbay.example.com/webhooks/x?a=1",
        headers: &headers,
        body: p[2].as_bytes(),
    };
    for c in common::CONNECTORS.iter() {
        if let Some(w) = c.webhooks() {
            let _ = w.verify(&req, p[1].as_bytes(), 1_767_225_600_000);
        }
    }
});
