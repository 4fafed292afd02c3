//! Hashing threads that give way to requests every so often, while there are any.
//!
//! A lower priority (nice 10 by default, SCHED_IDLE, or an idle cgroup) should let a waking
//! HTTP worker or PostgreSQL backend take the CPU from a hashing thread at once, and usually
//! does. But when the thread that
//! wakes it is itself a normal one on the same CPU (the load generator, a client, another
//! worker), no preemption is due at the wake-up, and when that thread goes to sleep the
//! kernel's EEVDF pick can choose the hashing group over the woken one (it is not yet
//! "eligible"). Nothing then asks again until the next scheduler tick: 4 ms at HZ=250.
//! `perf sched timehist` during a login flood showed exactly that: HTTP workers runnable
//! for 3.0–4.1 ms while a hashing thread ran, each wait ending on a tick boundary.
//!
//! So while doorman is serving requests with a valid token (authenticated requests,
//! refreshes, introspections: nearly all of them requests that do not hash; the few that
//! do, a password change, count too), each hashing thread arms a per-thread POSIX timer
//! whose signal handler calls `sched_yield`: at most every `DOORMAN_HASH_GIVE_WAY_US` the
//! kernel picks again, and a waiting request runs. With no such request in the last second
//! the timer stays unarmed, so a login flood alone pays nothing for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// How long after the last request with a valid token the hashing threads keep giving way.
const LINGER: Duration = Duration::from_secs(1);

/// Shared by the hasher (which notes requests) and its threads (which look before a job).
#[derive(Clone)]
pub struct GiveWay {
    every: Duration,
    start: Instant,
    /// When a request with a valid token last came, in milliseconds since `start`.
    last_request_ms: Arc<AtomicU64>,
}

impl GiveWay {
    /// Giving way every `every`; `None` for zero (never).
    pub fn every(every: Duration) -> Option<Self> {
        (!every.is_zero()).then(|| Self {
            every,
            start: Instant::now(),
            last_request_ms: Arc::new(AtomicU64::new(0)),
        })
    }

    /// A request with a valid token is being served.
    pub fn note_request(&self) {
        let now = self.elapsed_ms();
        if self.last_request_ms.load(Ordering::Relaxed) != now {
            self.last_request_ms.store(now, Ordering::Relaxed);
        }
    }

    fn has_requests(&self) -> bool {
        let last = self.last_request_ms.load(Ordering::Relaxed);
        last != 0 && self.elapsed_ms().saturating_sub(last) <= LINGER.as_millis() as u64
    }

    fn elapsed_ms(&self) -> u64 {
        // Never 0, which stands for "no request yet".
        u64::try_from(self.start.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// The timer of the calling hashing thread, or `None` where it cannot have one (then it
    /// runs as if giving way were off).
    pub fn for_this_thread(&self) -> Option<ThreadTimer> {
        match timer::Timer::for_this_thread() {
            Ok(timer) => Some(ThreadTimer {
                give_way: self.clone(),
                timer,
            }),
            Err(err) => {
                static WARNED: OnceLock<()> = OnceLock::new();
                WARNED.get_or_init(|| {
                    tracing::warn!(error = %err, "hashing threads cannot give way to requests");
                });
                None
            }
        }
    }
}

/// A hashing thread's timer.
pub struct ThreadTimer {
    give_way: GiveWay,
    timer: timer::Timer,
}

impl ThreadTimer {
    /// Runs `job`, giving way every so often if requests with a valid token are being served.
    pub fn run(&self, job: impl FnOnce()) {
        if !self.give_way.has_requests() {
            return job();
        }
        self.timer.set(self.give_way.every);
        job();
        self.timer.set(Duration::ZERO);
    }
}

#[cfg(target_os = "linux")]
#[expect(
    unsafe_code,
    reason = "a signal handler and a POSIX timer: libc calls on the calling thread with structures that outlive them"
)]
mod timer {
    use std::io;
    use std::sync::OnceLock;
    #[cfg(test)]
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    /// How many times a hashing thread has given way, for tests.
    #[cfg(test)]
    pub static GIVEN: AtomicU64 = AtomicU64::new(0);

    /// The handler. `sched_yield` is not on POSIX's list of async-signal-safe functions,
    /// but on Linux it is a bare system call that cannot fail (so `errno` is untouched),
    /// which is what makes a call safe in a handler; a lock-free atomic increment is too.
    extern "C" fn give_way(_signal: libc::c_int) {
        // SAFETY: a system call without arguments.
        unsafe {
            libc::sched_yield();
        }
        #[cfg(test)]
        GIVEN.fetch_add(1, Ordering::Relaxed);
    }

    /// A real-time signal that nothing else in doorman uses (glibc keeps the two below
    /// SIGRTMIN for itself; tokio handles only the signals it is asked for).
    fn signal() -> libc::c_int {
        libc::SIGRTMIN() + 1
    }

    /// Installs the handler once for the process (restarting interrupted system calls).
    fn install_handler() -> io::Result<()> {
        static INSTALLED: OnceLock<Result<(), i32>> = OnceLock::new();
        let installed = INSTALLED.get_or_init(|| {
            // SAFETY: a zeroed sigaction is a valid one; it is filled in before use and
            // outlives the call.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = give_way as *const () as libc::sighandler_t;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&raw mut action.sa_mask);
                if libc::sigaction(signal(), &raw const action, std::ptr::null_mut()) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
                }
            }
        });
        installed.map_err(io::Error::from_raw_os_error)
    }

    /// A timer whose signal goes to the thread that made it.
    pub struct Timer(libc::timer_t);

    impl Timer {
        pub fn for_this_thread() -> io::Result<Self> {
            install_handler()?;
            // SAFETY: a zeroed sigevent is valid; the timer id is written by the call.
            unsafe {
                let mut event: libc::sigevent = std::mem::zeroed();
                event.sigev_notify = libc::SIGEV_THREAD_ID;
                event.sigev_signo = signal();
                event.sigev_notify_thread_id = libc::gettid();
                let mut timer: libc::timer_t = std::ptr::null_mut();
                if libc::timer_create(libc::CLOCK_MONOTONIC, &raw mut event, &raw mut timer) != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(Self(timer))
            }
        }

        /// Fires every `every` from now on; never, for zero.
        pub fn set(&self, every: Duration) {
            let every = libc::timespec {
                tv_sec: libc::time_t::try_from(every.as_secs()).unwrap_or(libc::time_t::MAX),
                tv_nsec: libc::c_long::from(every.subsec_nanos().cast_signed()),
            };
            let spec = libc::itimerspec {
                it_interval: every,
                it_value: every,
            };
            // SAFETY: this thread's timer, a spec that outlives the call. It cannot fail
            // with a valid timer and spec.
            unsafe {
                libc::timer_settime(self.0, 0, &raw const spec, std::ptr::null_mut());
            }
        }
    }

    impl Drop for Timer {
        fn drop(&mut self) {
            // SAFETY: a timer made by `for_this_thread`, deleted once.
            unsafe {
                libc::timer_delete(self.0);
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod timer {
    use std::io;
    use std::time::Duration;

    pub struct Timer;

    impl Timer {
        pub fn for_this_thread() -> io::Result<Self> {
            Err(io::Error::from(io::ErrorKind::Unsupported))
        }

        pub fn set(&self, _every: Duration) {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_never() {
        assert!(GiveWay::every(Duration::ZERO).is_none());
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_thread_gives_way_only_after_a_request_and_its_work_is_whole() {
        let Some(give_way) = GiveWay::every(Duration::from_micros(50)) else {
            panic!("50 µs is not zero")
        };
        assert!(!give_way.has_requests());
        give_way.note_request();
        assert!(give_way.has_requests());

        let shared = give_way.clone();
        let sum = std::thread::spawn(move || {
            let Some(timer) = shared.for_this_thread() else {
                panic!("no timer on this system")
            };
            let mut sum = 0_u64;
            // About 20 ms of work with the timer armed: signals interrupt it hundreds of
            // times, and it still finishes with the right answer.
            timer.run(|| {
                let deadline = Instant::now() + Duration::from_millis(20);
                while Instant::now() < deadline {
                    sum = std::hint::black_box(sum.wrapping_add(1));
                }
            });
            std::thread::sleep(Duration::from_millis(5));
            sum
        })
        .join()
        .unwrap_or_else(|_| panic!("the thread panicked"));
        assert!(sum > 0);
        let given = timer::GIVEN.load(Ordering::Relaxed);
        assert!(given > 0, "the thread never gave way");

        // Without a request in the last second it does not.
        let idle = GiveWay {
            last_request_ms: Arc::new(AtomicU64::new(0)),
            ..give_way
        };
        std::thread::spawn(move || {
            let Some(timer) = idle.for_this_thread() else {
                panic!("no timer on this system")
            };
            timer.run(|| std::thread::sleep(Duration::from_millis(5)));
        })
        .join()
        .unwrap_or_else(|_| panic!("the thread panicked"));
        assert_eq!(timer::GIVEN.load(Ordering::Relaxed), given);
    }
}
