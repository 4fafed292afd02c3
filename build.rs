//! Rebuilds doorman when a migration is added or changed: `embed_migrations!` reads the
//! migration directories at compile time, and cargo does not otherwise notice a new one.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
