//! argon2id hashing on a bounded pool of low-priority threads. Hashing never runs on the
//! async workers, at most one hash per pool thread runs at a time, and when the pool and its
//! queue are full the caller is told at once (503) instead of waiting.
//!
//! A caller takes a [`Slot`] first and hashes with it later, so that a login can learn that
//! it would be shed before it counts an attempt against an account.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, mpsc};

use std::cell::RefCell;

use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use tokio::sync::oneshot;

use crate::config::HashPriority;
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
    jobs: mpsc::Sender<Job>,
    params: Params,
    /// What an unknown user's password is checked against; made on the pool at start.
    dummy_hash: Arc<OnceLock<String>>,
    /// Jobs handed to the pool that no thread has picked up yet.
    queued: Arc<AtomicUsize>,
    /// Jobs a thread has picked up since start: a hash made, or a password checked
    /// against one or more hashes.
    started: Arc<AtomicU64>,
    /// Slots taken and not yet finished (waiting, queued or hashing), at most `capacity`.
    taken: Arc<AtomicUsize>,
    /// Pool threads plus the jobs allowed to wait for one.
    capacity: usize,
    shed: AtomicU64,
}

/// A place on the hashing pool, taken before the work it is for; given back when its job
/// is done, or when it is dropped unused.
#[must_use = "a slot holds a place on the pool until it is used or dropped"]
pub struct Slot<'a> {
    hasher: &'a PasswordHasher,
    place: Place,
}

/// One taken place on the pool, given back when dropped: with its slot when unused, else
/// with its job, done or not, so a request dropped mid-wait does not free a place whose
/// thread is still hashing for it.
struct Place(Arc<AtomicUsize>);

impl Drop for Place {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Pool counters for metrics.
#[derive(Debug, Clone, Copy)]
pub struct HasherStats {
    pub queued: usize,
    /// Places taken on the pool (hashing, queued, or about to be).
    pub in_flight: usize,
    pub shed: u64,
    /// Jobs started since start, the start's own included.
    pub started: u64,
}

impl PasswordHasher {
    /// Starts `workers` hashing threads behind a queue of `queue` jobs.
    pub fn start(
        memory_kib: u32,
        iterations: u32,
        parallelism: u32,
        workers: usize,
        queue: usize,
        priority: HashPriority,
    ) -> anyhow::Result<Self> {
        let params = Params::new(memory_kib, iterations, parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let (jobs, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        let queued = Arc::new(AtomicUsize::new(0));
        let started = Arc::new(AtomicU64::new(0));
        let workers = workers.max(1);
        for index in 0..workers {
            let receiver = Arc::clone(&receiver);
            let (queued, started) = (Arc::clone(&queued), Arc::clone(&started));
            std::thread::Builder::new()
                .name(format!("doorman-hash-{index}"))
                .spawn(move || {
                    lower_thread_priority(priority);
                    loop {
                        let job = match receiver.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        queued.fetch_sub(1, Ordering::Relaxed);
                        started.fetch_add(1, Ordering::Relaxed);
                        job();
                        if queued.load(Ordering::Relaxed) == 0 {
                            release_memory();
                        }
                    }
                })?;
        }
        let dummy_hash = Arc::new(OnceLock::new());
        let (dummy, dummy_params) = (Arc::clone(&dummy_hash), params.clone());
        queued.fetch_add(1, Ordering::Relaxed);
        jobs.send(Box::new(move || {
            dummy.get_or_init(|| dummy_for(&dummy_params));
        }))
        .map_err(|_| anyhow::anyhow!("the hashing pool did not start"))?;
        Ok(Self {
            jobs,
            params,
            dummy_hash,
            queued,
            started,
            taken: Arc::new(AtomicUsize::new(0)),
            capacity: workers + queue,
            shed: AtomicU64::new(0),
        })
    }

    pub fn stats(&self) -> HasherStats {
        HasherStats {
            queued: self.queued.load(Ordering::Relaxed),
            in_flight: self.taken.load(Ordering::Relaxed),
            shed: self.shed.load(Ordering::Relaxed),
            started: self.started.load(Ordering::Relaxed),
        }
    }

    /// Takes a place on the pool, or answers 503 at once when every place is taken.
    pub fn reserve(&self) -> Result<Slot<'_>> {
        let admitted = self
            .taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |taken| {
                (taken < self.capacity).then_some(taken + 1)
            })
            .is_ok();
        if !admitted {
            self.shed.fetch_add(1, Ordering::Relaxed);
            return Err(Error::ServiceUnavailable {
                retry_after_secs: 1,
            });
        }
        Ok(Slot {
            hasher: self,
            place: Place(Arc::clone(&self.taken)),
        })
    }

    pub async fn hash(&self, password: &str) -> Result<String> {
        self.reserve()?.hash(password).await
    }

    /// Verifies `password` against `stored`; with no stored hash (unknown user) it verifies
    /// against a dummy hash, so both cases cost the same.
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified> {
        self.reserve()?.verify(password, stored).await
    }

    /// Whether `password` matches any of `hashes` (password history), in one pool job.
    pub async fn matches_any(&self, password: &str, hashes: Vec<String>) -> Result<bool> {
        let password = password.to_owned();
        self.reserve()?
            .run(move || hashes.iter().any(|stored| verify_with(&password, stored)))
            .await
    }
}

impl Slot<'_> {
    pub async fn hash(self, password: &str) -> Result<String> {
        let params = self.hasher.params.clone();
        let password = password.to_owned();
        self.run(move || hash_with(&params, &password))
            .await?
            .map_err(Error::internal)
    }

    /// [`PasswordHasher::verify`] in this slot.
    pub async fn verify(self, password: &str, stored: Option<&str>) -> Result<Verified> {
        let known = stored.is_some();
        let stored = stored.map(str::to_owned);
        let (password, params, dummy) = (
            password.to_owned(),
            self.hasher.params.clone(),
            Arc::clone(&self.hasher.dummy_hash),
        );
        let verified = self
            .run(move || {
                let stored = stored
                    .as_deref()
                    .unwrap_or_else(|| dummy.get_or_init(|| dummy_for(&params)));
                Verified {
                    matches: verify_with(&password, stored),
                    needs_rehash: !uses_params(stored, &params),
                }
            })
            .await?;
        Ok(Verified {
            matches: known && verified.matches,
            needs_rehash: verified.needs_rehash,
        })
    }

    /// Runs `work` on the pool; its place is given back when the job is done.
    async fn run<T: Send + 'static>(self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let Slot { hasher, place } = self;
        let (jobs, queued) = (&hasher.jobs, &hasher.queued);
        let (done, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            let out = work();
            // Free before the caller wakes, so what it does next (a re-hash, a metrics
            // read) finds the place given back.
            drop(place);
            let _ = done.send(out);
        });
        queued.fetch_add(1, Ordering::Relaxed);
        if jobs.send(job).is_err() {
            queued.fetch_sub(1, Ordering::Relaxed);
            return Err(Error::internal(anyhow::anyhow!(
                "the hashing pool has stopped"
            )));
        }
        result
            .await
            .map_err(|_| Error::internal(anyhow::anyhow!("a hashing job was dropped")))
    }
}

thread_local! {
    /// Each hashing thread keeps its argon2 memory (19 MiB at the default cost) between
    /// hashes while there is work queued: allocating it afresh costs ~4,900 page faults a
    /// hash. When the queue runs dry the memory goes back to the OS.
    static MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Gives an idle thread's argon2 memory back; a busy pool keeps it from hash to hash.
fn release_memory() {
    MEMORY.with(|memory| *memory.borrow_mut() = Vec::new());
}

fn with_memory<T>(blocks: usize, work: impl FnOnce(&mut [Block]) -> T) -> T {
    MEMORY.with(|memory| {
        let mut memory = memory.borrow_mut();
        if memory.len() < blocks {
            memory.resize(blocks, Block::default());
        }
        work(&mut memory[..blocks])
    })
}

fn dummy_for(params: &Params) -> String {
    hash_with(params, "doorman dummy password for unknown users").unwrap_or_default()
}

/// An argon2id hash of `password` as a PHC string.
fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("no randomness for a salt"))?;
    let mut out = [0u8; 32];
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    with_memory(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, blocks)
    })
    .map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
    Ok(format!(
        "$argon2id$v=19$m={},t={},p={}${}${}",
        params.m_cost(),
        params.t_cost(),
        params.p_cost(),
        STANDARD_NO_PAD.encode(salt),
        STANDARD_NO_PAD.encode(out)
    ))
}

/// Whether `password` matches the PHC string `stored` (any argon2 variant and cost).
fn verify_with(password: &str, stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let algorithm = match parsed.algorithm.as_str() {
        "argon2id" => Algorithm::Argon2id,
        "argon2i" => Algorithm::Argon2i,
        "argon2d" => Algorithm::Argon2d,
        _ => return false,
    };
    let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else {
        return false;
    };
    let (Ok(params), Some(salt), Some(expected)) =
        (Params::try_from(&parsed), &parsed.salt, &parsed.hash)
    else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    let computed = with_memory(params.block_count(), |blocks| {
        argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, blocks)
    });
    computed.is_ok() && verify_slices_are_equal(&out, expected.as_bytes()).is_ok()
}

/// Whether `stored` is argon2id at exactly `params` (otherwise it is re-hashed at login).
fn uses_params(stored: &str, params: &Params) -> bool {
    PasswordHash::new(stored).is_ok_and(|parsed| {
        parsed.algorithm.as_str() == "argon2id"
            && Params::try_from(&parsed).is_ok_and(|p| {
                (p.m_cost(), p.t_cost(), p.p_cost())
                    == (params.m_cost(), params.t_cost(), params.p_cost())
            })
    })
}

/// Hashing threads run below the threads that serve refreshes and authenticated reads
/// (nice 10 by default, SCHED_IDLE as an opt-in), so a login flood yields the CPU to them.
fn lower_thread_priority(priority: HashPriority) {
    #[cfg(not(target_os = "linux"))]
    let _ = priority;
    #[cfg(target_os = "linux")]
    #[expect(
        unsafe_code,
        reason = "scheduling calls on the calling thread have no memory-safety preconditions"
    )]
    // SAFETY: plain syscalls on the current thread, with a parameter that outlives the call.
    unsafe {
        let done = match priority {
            HashPriority::Idle => {
                let param = libc::sched_param { sched_priority: 0 };
                libc::sched_setscheduler(0, libc::SCHED_IDLE, &raw const param)
            }
            HashPriority::Nice(nice) => {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, libc::c_int::from(nice))
            }
        };
        if done != 0 {
            tracing::warn!(error = %std::io::Error::last_os_error(), ?priority, "cannot lower the hashing threads' priority");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_phc_strings_round_trip_and_match_the_argon2_crate() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(1024, 1, 1, None).unwrap_or_else(|e| panic!("{e}"));
        let ours = hash_with(&params, "correct horse").unwrap_or_else(|e| panic!("{e}"));
        let theirs: PasswordHash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
            .hash_password(b"correct horse")
            .unwrap_or_else(|e| panic!("{e}"));

        assert!(ours.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(
            verify_with("correct horse", &ours)
                && verify_with("correct horse", &theirs.to_string())
        );
        assert!(
            !verify_with("wrong horse", &ours) && !verify_with("wrong horse", &theirs.to_string())
        );
        let parsed = PasswordHash::new(&ours).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok(),
            "the argon2 crate reads ours"
        );
        assert!(uses_params(&ours, &params));
        assert!(!uses_params(
            &ours,
            &Params::new(2048, 1, 1, None).unwrap_or_else(|e| panic!("{e}"))
        ));
        assert!(!verify_with("correct horse", "not a hash"));
    }
}
