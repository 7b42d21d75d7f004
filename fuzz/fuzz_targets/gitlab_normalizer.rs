//! The GitLab normalizer on any payload. Input: the `X-Gitlab-Event` value, a newline, then
//! the body. It must answer events, `Ignored` or an error — never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (event, body) = match data.iter().position(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"Note Hook"[..], data),
    };
    let event = String::from_utf8_lossy(event);
    let _ = bosun::webhook::gitlab::normalize(&event, body);
});
