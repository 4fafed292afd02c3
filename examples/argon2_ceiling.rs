//! The argon2id ceiling of this machine: hashes per second on every core at the
//! configured cost (`DOORMAN_ARGON2_MEMORY_KIB`, `_ITERATIONS`, `_PARALLELISM`). No login
//! or registration can go faster, so the benchmark reports them against this.
//!
//! `cargo run --release --example argon2_ceiling -- [seconds]`

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::PasswordHasher;
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};

fn env_or(name: &str, default: u32) -> u32 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let (m, t, p) = (
        env_or("DOORMAN_ARGON2_MEMORY_KIB", 19_456),
        env_or("DOORMAN_ARGON2_ITERATIONS", 2),
        env_or("DOORMAN_ARGON2_PARALLELISM", 1),
    );
    let params = Params::new(m, t, p, None).map_err(|e| format!("{e}"))?;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let done = AtomicU64::new(0);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
                while Instant::now() < deadline {
                    let hashed: Result<PasswordHash, _> =
                        argon2.hash_password(b"correct horse battery staple");
                    if hashed.is_ok() {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let rate = done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    println!("argon2id m={m} t={t} p={p}: {rate:.1} hashes/s on {threads} threads");
    Ok(())
}
