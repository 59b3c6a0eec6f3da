//! Vendor-side signing for tests, per each vendor's documented algorithm (the same vectors are
//! cross-checked against vendors' SDKs in `tests/webhook-vectors/`).

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

fn hmac256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// HubSpot v3: base64 HMAC-SHA256 of `method + url + body + timestamp(ms)` under the client secret.
pub fn hubspot_v3(secret: &str, method: &str, url: &str, body: &[u8], timestamp_ms: i64) -> String {
    base64::engine::general_purpose::STANDARD.encode(hmac256(
        secret.as_bytes(),
        &[
            method.as_bytes(),
            url.as_bytes(),
            body,
            timestamp_ms.to_string().as_bytes(),
        ],
    ))
}

/// Standard Webhooks: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under the decoded secret.
pub fn standard_webhooks(secret: &str, id: &str, timestamp_s: i64, body: &[u8]) -> String {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("a whsec_ secret");
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(hmac256(
            &key,
            &[
                id.as_bytes(),
                b".",
                timestamp_s.to_string().as_bytes(),
                b".",
                body
            ]
        ))
    )
}

/// The current time in epoch milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A POST signed as a Standard Webhooks sender signs it, at the current time.
pub fn standard_webhooks_request(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    id: &str,
    body: String,
) -> reqwest::RequestBuilder {
    let ts = now_ms() / 1000;
    client
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            standard_webhooks(secret, id, ts, body.as_bytes()),
        )
        .body(body)
}
