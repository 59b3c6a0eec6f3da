//! Signature schemes against vendors' published test vectors (see
//! `shared/reference/ratelimits-and-webhook-signatures.md` §D), handshakes, event extraction, and
//! property tests that no parser panics on arbitrary input.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::{Connector, Headers};

fn compile(webhooks: Value) -> Connector {
    let manifest = json!({
        "name": "t", "version": "1", "base_url": "https://api.example.com",
        "auth": {"type": "none"},
        "resources": {"things": {"methods": {"list": {"method": "GET", "path": "/things", "records": "."}}}},
        "webhooks": webhooks,
    });
    Connector::from_value(manifest).unwrap_or_else(|p| panic!("{p:?}"))
}

fn req<'a>(headers: &'a Headers, body: &'a [u8]) -> WebhookRequest<'a> {
    WebhookRequest {
        method: "POST",
        url: "https://hooks.example.com/webhooks/t",
        headers,
        body,
    }
}

fn headers(pairs: &[(&str, &str)]) -> Headers {
    Headers::new(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

#[test]
fn github_documented_vector() {
    let c = compile(
        json!({"signature": {"type": "hmac", "algorithm": "sha256", "encoding": "hex",
        "header": "X-Hub-Signature-256", "format": {"type": "prefixed", "prefix": "sha256="}}}),
    );
    let w = c.webhooks().unwrap();
    let h = headers(&[(
        "X-Hub-Signature-256",
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    )]);
    assert_eq!(
        w.verify(&req(&h, b"Hello, World!"), b"It's a Secret to Everybody", 0),
        Ok(())
    );
    assert_eq!(
        w.verify(&req(&h, b"Hello, World?"), b"It's a Secret to Everybody", 0),
        Err(Rejection::Mismatch)
    );
    assert_eq!(
        w.verify(&req(&headers(&[]), b"Hello, World!"), b"x", 0),
        Err(Rejection::MissingSignature)
    );
    let legacy = headers(&[("X-Hub-Signature-256", "sha1=757107ea")]);
    assert_eq!(
        w.verify(&req(&legacy, b""), b"x", 0),
        Err(Rejection::MalformedSignature)
    );
}

#[test]
fn slack_documented_vector_and_tolerance_both_ways() {
    let c = compile(
        json!({"signature": {"type": "hmac", "algorithm": "sha256", "encoding": "hex",
        "header": "X-Slack-Signature", "format": {"type": "prefixed", "prefix": "v0="},
        "signed": "v0:{timestamp}:{body}",
        "timestamp": {"header": "X-Slack-Request-Timestamp", "unit": "seconds"}}}),
    );
    let w = c.webhooks().unwrap();
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    let h = headers(&[
        (
            "X-Slack-Signature",
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
        ),
        ("X-Slack-Request-Timestamp", "1531420618"),
    ]);
    let secret = b"8f742231b10e8888abcd99yyyzzz85a5";
    let at = 1_531_420_618_000;
    assert_eq!(w.verify(&req(&h, body), secret, at + 299_000), Ok(()));
    assert_eq!(w.verify(&req(&h, body), secret, at - 299_000), Ok(()));
    assert_eq!(
        w.verify(&req(&h, body), secret, at + 301_000),
        Err(Rejection::StaleTimestamp { skew_ms: 301_000 })
    );
    assert_eq!(
        w.verify(&req(&h, body), secret, at - 301_000),
        Err(Rejection::StaleTimestamp { skew_ms: -301_000 })
    );
}

fn standard_webhooks() -> Connector {
    compile(
        json!({"signature": {"type": "hmac", "algorithm": "sha256", "encoding": "base64",
        "header": "webhook-signature", "format": {"type": "space_separated", "prefix": "v1,"},
        "signed": "{header.webhook-id}.{timestamp}.{body}", "secret": "whsec",
        "timestamp": {"header": "webhook-timestamp", "unit": "seconds"}},
        "id": ".headers[\"webhook-id\"]"}),
    )
}

#[test]
fn standard_webhooks_reference_vectors_with_rotation() {
    let c = standard_webhooks();
    let w = c.webhooks().unwrap();
    let h = headers(&[
        ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
        ("webhook-timestamp", "1614265330"),
        (
            "webhook-signature",
            "v1,bm90IGl0 v1a,Zm9v v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        ),
    ]);
    let secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert_eq!(
        w.verify(&req(&h, br#"{"test": 2432232314}"#), secret, 1_614_265_330_000),
        Ok(())
    );
    let h2 = headers(&[
        ("webhook-id", "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"),
        ("webhook-timestamp", "1649367553"),
        (
            "webhook-signature",
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
        ),
    ]);
    let body = br#"{"email":"test@example.com","username":"test_user"}"#;
    let secret2 = b"whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    assert_eq!(w.verify(&req(&h2, body), secret2, 1_649_367_553_000), Ok(()));
    assert_eq!(
        w.verify(&req(&h2, body), secret, 1_649_367_553_000),
        Err(Rejection::Mismatch)
    );
    let events = w.events(&req(&h2, body)).unwrap();
    assert_eq!(events[0].id.as_deref(), Some("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk"));
}

#[test]
fn stripe_key_value_header_with_secret_roll() {
    let c = compile(
        json!({"signature": {"type": "hmac", "algorithm": "sha256", "encoding": "hex",
        "header": "Stripe-Signature",
        "format": {"type": "key_value", "signature_key": "v1", "timestamp_key": "t"},
        "signed": "{timestamp}.{body}",
        "timestamp": {"from_signature": true, "unit": "seconds"}}}),
    );
    let w = c.webhooks().unwrap();
    let h = headers(&[(
        "Stripe-Signature",
        "t=1700000000,v1=00aa,v1=8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724,v0=ff",
    )]);
    let body = br#"{"id":"evt_test","object":"event"}"#;
    assert_eq!(
        w.verify(&req(&h, body), b"whsec_test_secret", 1_700_000_100_000),
        Ok(())
    );
    let no_t = headers(&[(
        "Stripe-Signature",
        "v1=8042376f6ca064adbe037642a718227dfd59047137eb49497a54c49eb0cfb724",
    )]);
    assert_eq!(
        w.verify(&req(&no_t, body), b"whsec_test_secret", 1_700_000_100_000),
        Err(Rejection::MissingTimestamp)
    );
}

#[test]
fn shopify_base64_over_raw_body() {
    let c = compile(
        json!({"signature": {"type": "hmac", "algorithm": "sha256", "encoding": "base64",
        "header": "X-Shopify-Hmac-Sha256"}}),
    );
    let h = headers(&[(
        "X-Shopify-Hmac-Sha256",
        "VnKUjZsLuN5iZWjn5EntcBVCF9kMN43LglzCE1/GSeY=",
    )]);
    assert_eq!(
        c.webhooks().unwrap().verify(&req(&h, br#"{"id":1}"#), b"hush", 0),
        Ok(())
    );
}

#[test]
fn twilio_documented_vector_signs_url_and_sorted_form() {
    let c = compile(
        json!({"signature": {"type": "hmac", "algorithm": "sha1", "encoding": "base64",
        "header": "X-Twilio-Signature", "signed": "{url}{form_sorted}"}}),
    );
    let h = headers(&[
        ("X-Twilio-Signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ]);
    let body =
        b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
    let r = WebhookRequest {
        method: "POST",
        url: "https://mycompany.com/myapp.php?foo=1&bar=2",
        headers: &h,
        body,
    };
    assert_eq!(c.webhooks().unwrap().verify(&r, b"12345", 0), Ok(()));
}

#[test]
fn zendesk_timestamp_then_body_rfc3339() {
    let c = compile(
        json!({"signature": {"type": "hmac", "algorithm": "sha256", "encoding": "base64",
        "header": "X-Zendesk-Webhook-Signature", "signed": "{timestamp}{body}",
        "timestamp": {"header": "X-Zendesk-Webhook-Signature-Timestamp", "unit": "rfc3339"}}}),
    );
    let h = headers(&[
        (
            "X-Zendesk-Webhook-Signature",
            "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM=",
        ),
        ("X-Zendesk-Webhook-Signature-Timestamp", "2021-03-25T05:09:27Z"),
    ]);
    let body = br#"{"event":"ticket.updated","id":123}"#;
    let secret = b"dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ==";
    assert_eq!(
        c.webhooks()
            .unwrap()
            .verify(&req(&h, body), secret, 1_616_648_967_000),
        Ok(())
    );
}

#[test]
fn linear_timestamp_in_the_body() {
    let c = compile(
        json!({"signature": {"type": "hmac", "algorithm": "sha256", "encoding": "hex",
        "header": "Linear-Signature",
        "timestamp": {"body": ".webhookTimestamp", "unit": "milliseconds", "tolerance_seconds": 60}}}),
    );
    let w = c.webhooks().unwrap();
    let body = br#"{"action":"create","type":"Issue","webhookTimestamp":1700000000000}"#;
    let sig = hex::encode(hmac_sha256(b"lin_wh_secret", body));
    let h = headers(&[("Linear-Signature", &sig)]);
    assert_eq!(
        w.verify(&req(&h, body), b"lin_wh_secret", 1_700_000_030_000),
        Ok(())
    );
    assert!(matches!(
        w.verify(&req(&h, body), b"lin_wh_secret", 1_700_000_061_000),
        Err(Rejection::StaleTimestamp { .. })
    ));
}

#[test]
fn handshakes() {
    let c = compile(
        json!({"signature": {"type": "hmac", "algorithm": "sha256", "encoding": "hex",
        "header": "x-zm-signature"},
        "handshakes": [{"type": "slack_url_verification"}, {"type": "zoom_url_validation"},
                       {"type": "graph_validation_token"}, {"type": "dropbox_challenge"}]}),
    );
    let w = c.webhooks().unwrap();
    let h = headers(&[]);
    let slack = br#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    assert_eq!(
        w.signed_handshake(&req(&h, slack), b"k").unwrap().body,
        b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    let zoom = br#"{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"}}"#;
    let answer: Value =
        serde_json::from_slice(&w.signed_handshake(&req(&h, zoom), b"secret").unwrap().body).unwrap();
    assert_eq!(answer["plainToken"], "qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        answer["encryptedToken"],
        hex::encode(hmac_sha256(b"secret", b"qgg8vlvZRS6UYooatFL8Aw"))
    );
    let graph = WebhookRequest {
        url: "https://h/webhooks/t?validationToken=Validation%3A%20Testing",
        ..req(&h, b"")
    };
    assert_eq!(w.unsigned_handshake(&graph).unwrap().body, b"Validation: Testing");
    let dropbox = WebhookRequest {
        method: "GET",
        url: "https://h/webhooks/t?challenge=abc",
        ..req(&h, b"")
    };
    assert_eq!(w.unsigned_handshake(&dropbox).unwrap().body, b"abc");
    assert_eq!(w.unsigned_handshake(&req(&h, b"{}")), None);
    assert_eq!(
        w.signed_handshake(&req(&h, b"{\"type\":\"event_callback\"}"), b"k"),
        None
    );
}

#[test]
fn hubspot_batches_split_route_and_map() {
    let c = compile(json!({
        "signature": {"type": "hmac", "algorithm": "sha256", "encoding": "base64",
            "header": "X-HubSpot-Signature-v3", "signed": "{method}{url}{body}{timestamp}",
            "timestamp": {"header": "X-HubSpot-Request-Timestamp", "unit": "milliseconds"}},
        "events": ".",
        "id": ".event.eventId",
        "time": {"path": ".event.occurredAt", "unit": "milliseconds"},
        "account": {"key": ".event.portalId", "context": "portal_id"},
        "map": [
            {"when": ".event.subscriptionType == \"contact.creation\"", "type": "crm.contact.created",
             "data": "{id: (.event.objectId | tostring)}"},
            {"when": ".event.subscriptionType == \"contact.propertyChange\"", "type": "crm.contact.updated",
             "data": "{id: (.event.objectId | tostring)}"}
        ]
    }));
    let w = c.webhooks().unwrap();
    let body = br#"[{"eventId":1,"portalId":62515,"occurredAt":1564113600000,"subscriptionType":"contact.creation","objectId":123},
                    {"eventId":2,"portalId":62515,"occurredAt":1564113600001,"subscriptionType":"deal.deletion","objectId":9}]"#;
    let h = headers(&[("X-HubSpot-Request-Timestamp", "1564113600500")]);
    let sig = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        hmac_sha256(
            b"yyyy",
            &[
                b"POST".as_slice(),
                b"https://hooks.example.com/webhooks/t",
                body,
                b"1564113600500",
            ]
            .concat(),
        ),
    );
    let h2 = headers(&[
        ("X-HubSpot-Request-Timestamp", "1564113600500"),
        ("X-HubSpot-Signature-v3", &sig),
    ]);
    assert_eq!(w.verify(&req(&h2, body), b"yyyy", 1_564_113_600_600), Ok(()));
    let events = w.events(&req(&h, body)).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].id.as_deref(), Some("1"));
    assert_eq!(events[0].time_ms, Some(1_564_113_600_000));
    assert_eq!(events[0].account_key.as_deref(), Some("62515"));
    let u = events[0].unified.as_ref().unwrap();
    assert_eq!(
        (u.event_type.as_str(), &u.data),
        ("crm.contact.created", &json!({"id": "123"}))
    );
    assert_eq!(events[1].unified, None, "no rule for deal.deletion");
    assert!(w.events(&req(&h, b"not json")).unwrap_err().contains("not JSON"));
}

#[test]
fn bad_sections_name_their_paths() {
    let manifest = json!({
        "name": "t", "version": "1", "base_url": "https://api.example.com", "auth": {"type": "none"},
        "resources": {"things": {"methods": {"list": {"method": "GET", "path": "/things", "records": "."}}}},
        "webhooks": {
            "signature": {"type": "hmac", "algorithm": "sha256", "encoding": "hex", "header": "bad header",
                "signed": "{timestamp}{nope}"},
            "id": ".[",
            "map": [{"type": "contact"}]
        }
    });
    let problems = Connector::from_value(manifest).unwrap_err();
    let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
    for want in [
        "$.webhooks.signature.header",
        "$.webhooks.signature.signed",
        "$.webhooks.id",
        "$.webhooks.map[0].type",
    ] {
        assert!(paths.contains(&want), "{want} not in {problems:?}");
    }
}

proptest! {
    #[test]
    fn parsers_never_panic(value in ".{0,200}", body in proptest::collection::vec(any::<u8>(), 0..300),
                           unit in 0..3u8, ts in ".{0,40}") {
        let unit = [spec::TimeUnit::Seconds, spec::TimeUnit::Milliseconds, spec::TimeUnit::Rfc3339][unit as usize];
        let _ = parse_time(unit, &ts);
        for format in [
            spec::SignatureFormat::Plain,
            spec::SignatureFormat::Prefixed { prefix: "sha256=".into() },
            spec::SignatureFormat::KeyValue { signature_key: "v1".into(), timestamp_key: Some("t".into()), separator: ",".into() },
            spec::SignatureFormat::SpaceSeparated { prefix: "v1,".into() },
        ] {
            let _ = parse_header(&format, &value);
        }
        let _ = form_sorted(&body);
        let c = standard_webhooks();
        let w = c.webhooks().unwrap();
        let h = headers(&[("webhook-id", &value), ("webhook-timestamp", &ts), ("webhook-signature", &value),
                          ("content-type", "application/x-www-form-urlencoded")]);
        let r = WebhookRequest { method: "POST", url: &format!("https://h/?{value}"), headers: &h, body: &body };
        let _ = w.verify(&r, &body, 0);
        let _ = w.unsigned_handshake(&r);
        let _ = w.signed_handshake(&r, &body);
        let _ = w.events(&r);
        let _ = secret_key(spec::SecretEncoding::Whsec, value.as_bytes());
    }
}
