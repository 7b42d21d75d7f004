//! The environment's part of the configuration: `BOSUN_…__…` overrides of file keys, and
//! secrets, which come from the environment (or, for a GitHub App key, a small file) and
//! never from the configuration file itself.

use std::path::Path;

/// The largest private key file read; an RSA PEM key is a few KiB. Bounds what a wrong path
/// (`/dev/zero`, a log file) can make bosun read at startup.
pub(super) const MAX_KEY_FILE_BYTES: u64 = 64 * 1024;

/// Reads a text file of at most `limit` bytes; a longer one is an error, not a truncation.
pub(super) fn read_small(path: &Path, limit: u64) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(limit + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > limit {
        return Err(std::io::Error::other(format!(
            "larger than {limit} bytes, so not a private key"
        )));
    }
    Ok(text)
}

/// `BOSUN_DATABASE__URL=…` sets `database.url`: `BOSUN_`, then the key path in upper case
/// with `__` between levels. Values are read as TOML when they parse (numbers, booleans),
/// else as strings. Variables without `__` (like the token variables) are not overrides.
pub(super) fn apply_env_overrides(table: &mut toml::Table, env: &[(String, String)]) {
    for (name, value) in env {
        let Some(path) = name.strip_prefix("BOSUN_") else {
            continue;
        };
        if !path.contains("__") {
            continue;
        }
        let keys: Vec<String> = path.split("__").map(|k| k.to_ascii_lowercase()).collect();
        let parsed = format!("v = {value}")
            .parse::<toml::Table>()
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.clone()));
        let mut cursor = &mut *table;
        for key in &keys[..keys.len() - 1] {
            let entry = cursor
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !entry.is_table() {
                *entry = toml::Value::Table(toml::Table::new());
            }
            let toml::Value::Table(next) = entry else {
                return;
            };
            cursor = next;
        }
        if let Some(last) = keys.last() {
            cursor.insert(last.clone(), parsed);
        }
    }
}
