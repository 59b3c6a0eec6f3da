//! One fixture for "a host, a mock vendor and a connected account": [`Host::with_vendor`].
//! Each mock vendor says which connector it stands for, the credentials and context its test
//! account uses, and where its API root is on the mock server.

use std::ops::Deref;

use patchbay_mock_vendors::{GitHubMock, HubSpotMock, LinearMock, MockServer, PipedriveMock};
use serde_json::{Value, json};

use crate::host::{Host, HostOptions};

/// A mock vendor the bundled connector of the same name talks to.
pub trait Vendor: Sized {
    /// The bundled connector.
    const CONNECTOR: &'static str;
    /// The credential the mock accepts.
    const TOKEN: &'static str;
    /// A fresh mock accepting [`Vendor::TOKEN`].
    fn mock() -> Self;
    /// Its HTTP routes.
    fn router(&self) -> axum::Router;
    /// Forgets the requests recorded so far.
    fn clear_requests(&self);
    /// The test account's credentials.
    fn credentials() -> Value;
    /// The test account's context.
    fn context() -> Value {
        json!({})
    }
    /// The API root on the mock server (the account's `base_url`).
    fn base_url(server: &MockServer) -> String {
        server.base_url()
    }
}

impl Vendor for HubSpotMock {
    const CONNECTOR: &'static str = "hubspot";
    const TOKEN: &'static str = "pat-na1-11111111-2222-3333-4444-555555555555";
    fn mock() -> Self {
        Self::new(Self::TOKEN)
    }
    fn router(&self) -> axum::Router {
        HubSpotMock::router(self)
    }
    fn clear_requests(&self) {
        HubSpotMock::clear_requests(self)
    }
    fn credentials() -> Value {
        json!({"access_token": Self::TOKEN})
    }
}

impl Vendor for GitHubMock {
    const CONNECTOR: &'static str = "github";
    const TOKEN: &'static str = "ghp_16C7e42F292c6912E7710c838347Ae178B4a";
    fn mock() -> Self {
        Self::new(Self::TOKEN)
    }
    fn router(&self) -> axum::Router {
        GitHubMock::router(self)
    }
    fn clear_requests(&self) {
        GitHubMock::clear_requests(self)
    }
    fn credentials() -> Value {
        json!({"access_token": Self::TOKEN})
    }
    fn context() -> Value {
        json!({"owner": "octo", "repo": "hello"})
    }
}

impl Vendor for PipedriveMock {
    const CONNECTOR: &'static str = "pipedrive";
    const TOKEN: &'static str = "0123456789abcdef0123456789abcdef01234567";
    fn mock() -> Self {
        Self::new(Self::TOKEN)
    }
    fn router(&self) -> axum::Router {
        PipedriveMock::router(self)
    }
    fn clear_requests(&self) {
        PipedriveMock::clear_requests(self)
    }
    fn credentials() -> Value {
        json!({"api_token": Self::TOKEN})
    }
    fn context() -> Value {
        json!({"company_domain": "acme"})
    }
    fn base_url(server: &MockServer) -> String {
        format!("{}/api/v1", server.base_url())
    }
}

impl Vendor for LinearMock {
    const CONNECTOR: &'static str = "linear";
    const TOKEN: &'static str = "lin_api_0123456789abcdefghijklmnopqrstuvwxyzABCD";
    fn mock() -> Self {
        Self::new(Self::TOKEN)
    }
    fn router(&self) -> axum::Router {
        LinearMock::router(self)
    }
    fn clear_requests(&self) {
        LinearMock::clear_requests(self)
    }
    fn credentials() -> Value {
        json!({"api_key": Self::TOKEN})
    }
}

/// A host with a mock vendor and an account (tenant `t1`) connected to it.
pub struct VendorHost<V> {
    /// The host.
    pub host: Host,
    /// The mock vendor (its recorded requests are cleared after connecting).
    pub mock: V,
    /// The mock's server (dropping it takes the vendor away).
    pub server: MockServer,
    /// The connected account's id.
    pub account: String,
}

impl<V> VendorHost<V> {
    /// The host, the mock, its server (bind it: dropping it takes the vendor away) and the
    /// account id.
    pub fn into_parts(self) -> (Host, V, MockServer, String) {
        (self.host, self.mock, self.server, self.account)
    }
}

impl<V> Deref for VendorHost<V> {
    type Target = Host;
    fn deref(&self) -> &Host {
        &self.host
    }
}

impl Host {
    /// A host with the bundled connectors, a fresh `V` mock and an account connected to it.
    pub async fn with_vendor<V: Vendor>() -> VendorHost<V> {
        Self::with_vendor_options(HostOptions::default()).await
    }

    /// [`Host::with_vendor`] with options.
    pub async fn with_vendor_options<V: Vendor>(options: HostOptions) -> VendorHost<V> {
        let host = Self::start_with(options).await;
        let (mock, server, account) = host.add_vendor::<V>(V::CONNECTOR).await;
        VendorHost {
            host,
            mock,
            server,
            account,
        }
    }

    /// Starts a fresh `V` mock and connects an account of `connector` (V's own, or a test
    /// connector written against the same API) to it; the mock's recorded requests are cleared.
    pub async fn add_vendor<V: Vendor>(&self, connector: &str) -> (V, MockServer, String) {
        let mock = V::mock();
        let server = MockServer::spawn(mock.router()).await;
        let account = self
            .account(
                connector,
                "t1",
                V::credentials(),
                V::context(),
                &V::base_url(&server),
            )
            .await;
        mock.clear_requests();
        (mock, server, account)
    }
}
