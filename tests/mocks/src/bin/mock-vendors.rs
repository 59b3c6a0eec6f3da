//! `mock-vendors`: the HubSpot, GitHub, Pipedrive and Linear mocks as a standalone process, for
//! the README quickstart and manual exploration without vendor accounts or network access.
//!
//! Usage: `mock-vendors [--seed N]`. Serves HubSpot on 127.0.0.1:9101, GitHub on 9102 (repo
//! `octo/hello`), Pipedrive on 9103 (base `/api/v1`) and Linear on 9104 (`POST /graphql`);
//! every mock accepts the token `demo-token`. A stand-in for the product's webhook receiver on
//! 9105 (`POST /hook`) prints each delivery's `webhook-id` and body and answers 200.

use patchbay_mock_vendors::{GitHubMock, HubSpotMock, LinearMock, PipedriveMock};

const TOKEN: &str = "demo-token";

#[tokio::main]
async fn main() {
    let mut seed = 25;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next().and_then(|v| v.parse().ok())) {
            ("--seed", Some(n)) => seed = n,
            _ => {
                eprintln!("usage: mock-vendors [--seed N]");
                std::process::exit(2);
            }
        }
    }
    let hubspot = HubSpotMock::new(TOKEN);
    let github = GitHubMock::new(TOKEN);
    let pipedrive = PipedriveMock::new(TOKEN);
    let linear = LinearMock::new(TOKEN);
    hubspot.seed(seed);
    github.seed(seed);
    pipedrive.seed(seed);
    linear.seed(seed);
    let mut tasks = Vec::new();
    for (name, port, router) in [
        ("hubspot", 9101, hubspot.router()),
        ("github", 9102, github.router()),
        ("pipedrive", 9103, pipedrive.router()),
        ("linear", 9104, linear.router()),
        ("product receiver", 9105, receiver()),
    ] {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap_or_else(|e| panic!("cannot listen on 127.0.0.1:{port}: {e}"));
        eprintln!("{name} mock on http://127.0.0.1:{port} (token {TOKEN}, {seed} records)");
        tasks.push(tokio::spawn(async move { axum::serve(listener, router).await }));
    }
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = futures_all(tasks) => {}
    }
}

/// The product's webhook endpoint: prints what Patchbay delivers.
fn receiver() -> axum::Router {
    axum::Router::new().route(
        "/hook",
        axum::routing::post(|headers: axum::http::HeaderMap, body: String| async move {
            let id = headers
                .get("webhook-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-");
            println!("delivery {id}: {body}");
            "ok"
        }),
    )
}

async fn futures_all(tasks: Vec<tokio::task::JoinHandle<std::io::Result<()>>>) {
    for t in tasks {
        let _ = t.await;
    }
}
