//! Pagination cursors: callers send them back, so any text decodes to a page state or an
//! error, never a panic; and what is encoded decodes to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use patchbay_engine::cursor::{Cursors, Resume};

fuzz_target!(|data: &[u8]| {
    let cursors = Cursors::new([7; 32]);
    let text = String::from_utf8_lossy(data);
    let _ = cursors.decode(&text, "acct_1", "proxy:contacts.list");
    let resume = Resume {
        query: vec![("q".into(), text.clone().into_owned())],
        ..Resume::default()
    };
    let cursor = cursors.encode("acct_1", "proxy:contacts.list", &resume);
    assert_eq!(cursors.decode(&cursor, "acct_1", "proxy:contacts.list").ok(), Some(resume));
    assert!(cursors.decode(&cursor, "acct_2", "proxy:contacts.list").is_err());
});
