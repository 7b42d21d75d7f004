//! The config loader on any file: parse, environment overrides, validation. Input: the TOML
//! text; after a line `%%`, `NAME=value` lines are the environment. It must report problems,
//! never panic.
#![no_main]

use bosun::config::RawConfig;
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (toml, env_text) = text.split_once("\n%%\n").unwrap_or((&text, ""));
    let env: Vec<(String, String)> = env_text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let Ok(raw) = RawConfig::parse(toml, &env) else {
        return;
    };
    // Validation reads the GitHub App key file; keep the fuzzer from reading files it names
    // outside the working directory (devices, fifos).
    if let Some(file) = raw.github.as_ref().and_then(|g| g.private_key_file.as_deref())
        && (Path::new(file).is_absolute() || file.contains(".."))
    {
        return;
    }
    let _ = raw.validate(&env);
});
