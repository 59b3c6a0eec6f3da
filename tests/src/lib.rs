//! End-to-end harness: a real `patchbay` host (the library's `serve`, on port 0, with a SQLite
//! file in a fresh directory) next to mock vendor servers, talked to over HTTP; the one fixture
//! for "a host, a vendor and an account" ([`Host::with_vendor`]); and the fixtures that need no
//! host, re-exported from `patchbay-test-support`.

mod host;
mod vendor;

pub use host::{Host, HostOptions, Reply, activation_times, sample, walk_pages};
pub use patchbay_mock_vendors as mocks;
pub use patchbay_test_support::*;
pub use vendor::{Vendor, VendorHost};
