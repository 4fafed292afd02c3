//! argon2id hashing on a bounded pool of low-priority threads. Hashing never runs on the
//! async workers, at most one hash per pool thread runs at a time, and when the queue is
//! full the caller is told at once (503) instead of waiting.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Algorithm, Argon2, Params, PasswordHash, Version};
use tokio::sync::oneshot;

use crate::error::{Error, Result};

type Job = Box<dyn FnOnce() + Send>;

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub matches: bool,
    /// The stored hash used other parameters than the configured ones.
    pub needs_rehash: bool,
}

pub struct PasswordHasher {
    jobs: mpsc::SyncSender<Job>,
    params: Params,
    dummy_hash: String,
    queued: Arc<AtomicUsize>,
    shed: AtomicU64,
}

/// Pool counters for metrics.
#[derive(Debug, Clone, Copy)]
pub struct HasherStats {
    pub queued: usize,
    pub shed: u64,
}

impl PasswordHasher {
    /// Starts `workers` hashing threads behind a queue of `queue` jobs.
    pub fn start(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        workers: usize,
        queue: usize,
        nice: u8,
    ) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let (jobs, receiver) = mpsc::sync_channel::<Job>(queue);
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        for index in 0..workers.max(1) {
            let receiver = Arc::clone(&receiver);
            let queued = Arc::clone(&queued);
            std::thread::Builder::new()
                .name(format!("doorman-hash-{index}"))
                .spawn(move || {
                    lower_thread_priority(nice);
                    loop {
                        let job = match receiver.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        queued.fetch_sub(1, Ordering::Relaxed);
                        job();
                    }
                })?;
        }
        let dummy_hash = hash_with(&params, "doorman dummy password for unknown users")?;
        Ok(Self {
            jobs,
            params,
            dummy_hash,
            queued,
            shed: AtomicU64::new(0),
        })
    }

    pub fn stats(&self) -> HasherStats {
        HasherStats {
            queued: self.queued.load(Ordering::Relaxed),
            shed: self.shed.load(Ordering::Relaxed),
        }
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        let params = self.params.clone();
        let password = password.to_owned();
        self.run(move || hash_with(&params, &password))
            .await?
            .map_err(Error::internal)
    }

    /// Verifies `password` against `stored`; with no stored hash (unknown user) it verifies
    /// against a dummy hash, so both cases cost the same.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified> {
        let known = stored.is_some();
        let stored = stored.unwrap_or(&self.dummy_hash).to_owned();
        let password = password.to_owned();
        let params = self.params.clone();
        let verified = self
            .run(move || {
                let Ok(parsed) = PasswordHash::new(&stored) else {
                    return Verified {
                        matches: false,
                        needs_rehash: false,
                    };
                };
                let matches = Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok();
                let needs_rehash = Params::try_from(&parsed).map_or(true, |p| {
                    p.m_cost() != params.m_cost()
                        || p.t_cost() != params.t_cost()
                        || p.p_cost() != params.p_cost()
                }) || parsed.algorithm.as_str() != "argon2id";
                Verified {
                    matches,
                    needs_rehash,
                }
            })
            .await?;
        Ok(Verified {
            matches: known && verified.matches,
            needs_rehash: verified.needs_rehash,
        })
    }

    /// Whether `password` matches any of `hashes` (password history), in one pool job.
    pub async fn matches_any(&self, password: &str, hashes: Vec<String>) -> Result<bool> {
        let password = password.to_owned();
        self.run(move || {
            hashes.iter().any(|stored| {
                PasswordHash::new(stored).is_ok_and(|parsed| {
                    Argon2::default()
                        .verify_password(password.as_bytes(), &parsed)
                        .is_ok()
                })
            })
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.queued.fetch_add(1, Ordering::Relaxed);
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.shed.fetch_add(1, Ordering::Relaxed);
                return Err(Error::ServiceUnavailable {
                    retry_after_secs: 1,
                });
            }
            Err(mpsc::TrySendError::Disconnected(_)) => {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                return Err(Error::internal(anyhow::anyhow!(
                    "the hashing pool has stopped"
                )));
            }
        }
        result
            .await
            .map_err(|_| Error::internal(anyhow::anyhow!("a hashing job was dropped")))
    }
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let hash: PasswordHash = argon2
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    Ok(hash.to_string())
}

/// Hashing threads run at a lower priority (nice 10 by default), so a login flood yields
/// the CPU to the async workers that serve refreshes and authenticated reads.
fn lower_thread_priority(nice: u8) {
    #[cfg(target_os = "linux")]
    #[expect(
        unsafe_code,
        reason = "setpriority on the calling thread has no memory-safety preconditions"
    )]
    // SAFETY: plain syscalls on the current thread's id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, libc::c_int::from(nice));
    }
}
