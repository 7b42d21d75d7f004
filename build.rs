//! Rebuilds bosun when a migration is added: `sqlx::migrate!` embeds the `migrations`
//! directories at compile time, and cargo does not otherwise watch them.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
