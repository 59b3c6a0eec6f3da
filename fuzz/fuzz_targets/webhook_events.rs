//! Webhook payloads split into events (a HubSpot batch, a Stripe event, Slack's envelope, …):
//! any body maps to events or an error with each bundled connector's webhook spec.
#![no_main]

mod common;

use libfuzzer_sys::fuzz_target;
use patchbay_engine::Headers;
use patchbay_engine::webhook::WebhookRequest;

fuzz_target!(|data: &[u8]| {
    let p = common::parts(data, 2);
    let headers = Headers::new(common::headers(&p[0]));
    let req = WebhookRequest {
        method: "POST",
        url: "https://patchbay.example.com/webhooks/x",
        headers: &headers,
        body: p[1].as_bytes(),
    };
    for c in common::CONNECTORS.iter() {
        if let Some(w) = c.webhooks() {
            let _ = w.events(&req);
        }
    }
});
