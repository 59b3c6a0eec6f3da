//! What the targets share: the bundled connectors (compiled once), and splitting an input into
//! a few strings.

#![allow(dead_code)]

use std::sync::LazyLock;

use patchbay_engine::Connector;

/// Bundled connectors whose webhooks, rate-limit headers and pagination differ the most.
pub static CONNECTORS: LazyLock<Vec<Connector>> = LazyLock::new(|| {
    [
        include_str!("../../connectors/stripe.json"),
        include_str!("../../connectors/github.json"),
        include_str!("../../connectors/hubspot.json"),
        include_str!("../../connectors/slack.json"),
        include_str!("../../connectors/shopify.json"),
        include_str!("../../connectors/twilio.json"),
        include_str!("../../connectors/zendesk.json"),
        include_str!("../../connectors/gitlab.json"),
        include_str!("../../connectors/linear.json"),
        include_str!("../../connectors/salesforce.json"),
    ]
    .iter()
    .map(|text| Connector::from_json(text).expect("a bundled connector compiles"))
    .collect()
});

/// Splits the input at `\0` into at most `n` UTF-8 strings (lossy).
pub fn parts(data: &[u8], n: usize) -> Vec<String> {
    let mut out: Vec<String> = data
        .splitn(n, |b| *b == 0)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    out.resize(n, String::new());
    out
}

/// Header pairs from lines of `name: value`.
pub fn headers(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}
