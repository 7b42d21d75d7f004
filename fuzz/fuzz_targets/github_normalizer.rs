//! The GitHub normalizer on any payload. Input: the `X-GitHub-Event` value, a newline, then
//! the body. It must answer events, `Ignored` or an error — never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (event, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"issue_comment"[..], data),
    };
    let event = String::from_utf8_lossy(event);
    let _ = bosun::webhook::github::normalize(&event, body);
});
