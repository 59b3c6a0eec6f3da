//! Every bundled connector's `webhooks` section against requests signed by the vendor's own SDK
//! (or its documented algorithm), from `tests/webhook-vectors/vectors.json`
//! (`generate.py` makes them): each verifies at its signing time, fails with a changed body, a
//! wrong secret or a clock 10 minutes off, and yields the vendor's event id, the account key and
//! the unified event types the manifest promises.

use patchbay_engine::Headers;
use patchbay_engine::webhook::{Rejection, WebhookRequest};
use patchbay_tests::bundled_connectors;
use serde_json::Value;

fn vectors() -> Vec<Value> {
    let path = bundled_connectors().join("../tests/webhook-vectors/vectors.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn vendor_sdk_signatures_verify_and_map_through_the_bundled_manifests() {
    let vectors = vectors();
    let mut connectors_seen = std::collections::BTreeSet::new();
    for v in &vectors {
        let name = v["connector"].as_str().unwrap();
        connectors_seen.insert(name.to_owned());
        let connector = patchbay::connectors::load_file(&bundled_connectors().join(format!("{name}.json")))
            .unwrap_or_else(|r| panic!("{r}"));
        let webhooks = connector
            .webhooks()
            .unwrap_or_else(|| panic!("{name} has no webhooks section"));
        let headers = Headers::new(
            v["headers"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, x)| (k.clone(), x.as_str().unwrap().to_owned()))
                .collect(),
        );
        let body = v["body"].as_str().unwrap().as_bytes();
        let secret = v["secret"].as_str().unwrap().as_bytes();
        let now = v["now_ms"].as_i64().unwrap();
        let req = WebhookRequest {
            method: v["method"].as_str().unwrap(),
            url: v["url"].as_str().unwrap(),
            headers: &headers,
            body,
        };
        let label = format!("{name} ({})", v["sdk"]);
        assert_eq!(webhooks.verify(&req, secret, now), Ok(()), "{label}");
        let mut tampered = body.to_vec();
        tampered.push(b' ');
        assert_eq!(
            webhooks.verify(
                &WebhookRequest {
                    body: &tampered,
                    ..req
                },
                secret,
                now
            ),
            Err(Rejection::Mismatch),
            "{label}: a changed body"
        );
        assert!(
            webhooks.verify(&req, b"not-the-secret", now).is_err(),
            "{label}: a wrong secret"
        );
        if webhooks.signature_has_timestamp() {
            assert!(
                matches!(
                    webhooks.verify(&req, secret, now + 600_000),
                    Err(Rejection::StaleTimestamp { .. })
                ),
                "{label}: 10 minutes later"
            );
            assert!(
                matches!(
                    webhooks.verify(&req, secret, now - 600_000),
                    Err(Rejection::StaleTimestamp { .. })
                ),
                "{label}: 10 minutes earlier"
            );
        }
        if let Some(challenge) = v["expect_handshake"].as_str() {
            let key = webhooks.key(secret).unwrap();
            let answer = webhooks.signed_handshake(&req, &key).expect("a handshake answer");
            assert_eq!(answer.body, challenge.as_bytes(), "{label}");
            continue;
        }
        let events = webhooks.events(&req).unwrap_or_else(|e| panic!("{label}: {e}"));
        let ids: Vec<Option<String>> = events.iter().map(|e| e.id.clone()).collect();
        match v["expect_event_ids"].as_array() {
            Some(want) => assert_eq!(
                ids,
                want.iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Vec<_>>(),
                "{label}"
            ),
            None => assert_eq!(
                ids,
                vec![v["expect_event_id"].as_str().map(str::to_owned)],
                "{label}"
            ),
        }
        let types: Vec<String> = events
            .iter()
            .filter_map(|e| e.unified.as_ref().map(|u| u.event_type.clone()))
            .collect();
        let want: Vec<String> = v["expect_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_owned())
            .collect();
        assert_eq!(types, want, "{label}");
        if let Some(key) = v["expect_account_key"].as_str() {
            assert_eq!(events[0].account_key.as_deref(), Some(key), "{label}");
        }
    }
    for required in [
        "stripe",
        "github",
        "slack",
        "shopify",
        "hubspot",
        "zendesk",
        "linear",
        "intercom",
        "twilio",
        "standard-webhooks",
    ] {
        assert!(connectors_seen.contains(required), "no vector for {required}");
    }
}
