//! The clock of an RTU line: waits for the t3.5 silence, the turnaround and
//! each paced character.
//!
//! Tokio's timer wheel has a resolution of 1 ms and wakes on the next tick,
//! so a 4.01 ms wait (t3.5 at 9600 baud) takes about 5 ms. That is 3 ms per
//! poll lost on a paced line (BENCHMARKS.md). A [`LineTimer::precise`] timer
//! waits on a Linux `timerfd` registered with tokio's reactor instead: the
//! kernel's high-resolution timer (no timer slack) wakes the reactor at the
//! deadline, and the worker thread is never blocked.
//!
//! The precise timer reads the real monotonic clock, so it is for a runtime
//! whose clock runs: tests on tokio's paused clock use
//! [`LineTimer::tokio`], which follows that clock.

use tokio::time::Instant;

/// Where a line's waits come from.
#[derive(Debug)]
pub struct LineTimer {
    #[cfg(target_os = "linux")]
    fd: Option<tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>>,
}

impl LineTimer {
    /// Tokio's timer (1 ms resolution; follows a paused test clock).
    pub fn tokio() -> Self {
        Self {
            #[cfg(target_os = "linux")]
            fd: None,
        }
    }

    /// A timerfd (sub-millisecond); tokio's timer if none can be had (not
    /// Linux, or out of file descriptors: logged). Must be called inside a
    /// tokio runtime with I/O enabled.
    pub fn precise() -> Self {
        #[cfg(target_os = "linux")]
        {
            match precise::create() {
                Ok(fd) => return Self { fd: Some(fd) },
                Err(e) => {
                    tracing::warn!(error = %e, "no timerfd: RTU line timing falls back to tokio's 1 ms timer");
                }
            }
        }
        Self::tokio()
    }

    /// Whether waits are sub-millisecond.
    pub fn is_precise(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            self.fd.is_some()
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }

    /// Wait until `deadline`; never returns before it. Cancel-safe: a wait
    /// dropped half-way leaves nothing behind that affects the next one.
    pub async fn sleep_until(&mut self, deadline: Instant) {
        #[cfg(target_os = "linux")]
        if let Some(fd) = &self.fd {
            match precise::sleep_until(fd, deadline).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::debug!(error = %e, "timerfd wait failed; tokio's timer instead");
                }
            }
        }
        tokio::time::sleep_until(deadline).await;
    }
}

#[cfg(target_os = "linux")]
mod precise {
    use std::io;
    use std::os::fd::OwnedFd;

    use rustix::time::{
        timerfd_create, timerfd_settime, Itimerspec, TimerfdClockId, TimerfdFlags,
        TimerfdTimerFlags, Timespec,
    };
    use tokio::io::unix::AsyncFd;
    use tokio::io::Interest;
    use tokio::time::Instant;

    /// A non-blocking timerfd on CLOCK_MONOTONIC (the clock of `Instant`),
    /// registered with the reactor.
    pub(super) fn create() -> io::Result<AsyncFd<OwnedFd>> {
        let fd = timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // Tokio 1.54 deprecated the safe constructor for `unsafe
        // register_with_interest`: a generic `T` could hand the reactor a
        // descriptor that changes or closes under it. An `OwnedFd` owns its
        // one descriptor until it is dropped with the `AsyncFd`, which is
        // exactly that function's safety contract, and this crate forbids
        // `unsafe`.
        #[allow(deprecated)]
        AsyncFd::with_interest(fd, Interest::READABLE)
    }

    pub(super) async fn sleep_until(fd: &AsyncFd<OwnedFd>, deadline: Instant) -> io::Result<()> {
        loop {
            // Armed relative to a `now` read before arming: it cannot
            // expire early. Re-arming resets the expiry count, so a wait
            // that was cancelled after its timer fired leaves at most a
            // stale readiness, which the read below clears.
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                return Ok(());
            }
            let spec = Itimerspec {
                it_interval: Timespec {
                    tv_sec: 0,
                    tv_nsec: 0,
                },
                it_value: Timespec {
                    tv_sec: i64::try_from(left.as_secs()).unwrap_or(i64::MAX),
                    tv_nsec: i64::from(left.subsec_nanos()),
                },
            };
            timerfd_settime(fd.get_ref(), TimerfdTimerFlags::empty(), &spec)?;
            loop {
                let mut guard = fd.readable().await?;
                let mut expirations = [0u8; 8];
                match guard.try_io(|fd| {
                    rustix::io::read(fd.get_ref(), &mut expirations).map_err(io::Error::from)
                }) {
                    Ok(r) => {
                        r?;
                        break;
                    }
                    // Stale readiness (from a cancelled wait): wait again.
                    Err(_would_block) => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// How late `n` waits of `each` end with `timer` (sorted), and whether
    /// any ended early [µs].
    async fn overshoots(timer: &mut LineTimer, n: usize, each: Duration) -> (Vec<i64>, bool) {
        let mut late = Vec::with_capacity(n);
        let mut early = false;
        for _ in 0..n {
            let deadline = Instant::now() + each;
            timer.sleep_until(deadline).await;
            let now = Instant::now();
            early |= now < deadline;
            late.push(now.saturating_duration_since(deadline).as_micros() as i64);
        }
        late.sort_unstable();
        (late, early)
    }

    /// The precise timer never ends a wait early, and its median overshoot
    /// is far below a millisecond (tokio's timer, measured alongside for
    /// the log, is about 0.5–1 ms late on a 2.3 ms wait). A loaded machine
    /// can delay any wake-up, so the median bound gets three tries; never
    /// early is checked on every wait.
    #[test]
    #[cfg(target_os = "linux")]
    fn the_precise_timer_is_never_early_and_rarely_late() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut precise = LineTimer::precise();
            assert!(precise.is_precise(), "no timerfd");
            let mut coarse = LineTimer::tokio();
            let each = Duration::from_micros(2300);
            let mut medians = Vec::new();
            for _ in 0..3 {
                let (late, early) = overshoots(&mut precise, 31, each).await;
                assert!(!early, "a precise wait ended early");
                let (tokio_late, _) = overshoots(&mut coarse, 31, each).await;
                medians.push((late[late.len() / 2], tokio_late[tokio_late.len() / 2]));
                eprintln!("median overshoot [µs] (precise, tokio): {medians:?}");
                if late[late.len() / 2] < 500 {
                    return;
                }
            }
            panic!("median overshoot (precise, tokio) [µs] of three tries: {medians:?}");
        });
    }

    /// A wait cancelled while its timer is armed (as when a byte arrives
    /// during the t3.5 silence), whose timer then fires unobserved, does not
    /// cut the next wait short.
    #[test]
    #[cfg(target_os = "linux")]
    fn a_cancelled_wait_does_not_end_the_next_early() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut t = LineTimer::precise();
            for _ in 0..5 {
                let armed = t.sleep_until(Instant::now() + Duration::from_millis(20));
                let cancelled = tokio::time::timeout(Duration::from_micros(200), armed).await;
                assert!(cancelled.is_err(), "a 20 ms wait ended within about 1 ms");
                // The old timer fires while nobody waits on it.
                std::thread::sleep(Duration::from_millis(25));
                tokio::task::yield_now().await;
                let deadline = Instant::now() + Duration::from_millis(3);
                t.sleep_until(deadline).await;
                assert!(Instant::now() >= deadline, "ended early");
            }
        });
    }

    /// On tokio's paused clock, the tokio timer follows it (auto-advance):
    /// what the server's unit tests rely on.
    #[tokio::test(start_paused = true)]
    async fn the_tokio_timer_follows_a_paused_clock() {
        let mut t = LineTimer::tokio();
        let t0 = Instant::now();
        t.sleep_until(t0 + Duration::from_secs(3600)).await;
        assert_eq!(t0.elapsed(), Duration::from_secs(3600));
    }
}
