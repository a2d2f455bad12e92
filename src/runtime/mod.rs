//! The runtime: the only code that knows the order of the stages.
//!
//! - `app`: what every cycle shares — the config, the store (behind a mutex, used only from
//!   blocking threads), the clock.
//! - `cycle`: one scope's cycle — collect → merge into the scope's in-memory window →
//!   forecast (when the forecast schedule has ticked since the last run) → analyze → decide →
//!   commit everything in one store transaction. `ScopeState` is what a scope keeps between
//!   cycles (its lookback window, frontiers, rule states, outlooks, spend), read from the
//!   store once, when the scope first cycles; the store is the source after a restart.
//! - `scheduler`: the daemon loop — every scope at each tick of `schedule.collect`, up to
//!   `aws.concurrent_scopes` at once, never two cycles of one scope at once.
//! - `apply`: auto mode after a cycle (follow refreshes, apply what `[apply]` allows).
//! - `review`: the weekly review, sent once per week and receiver (recorded in the store).
//! - `health`: per scope, how the last cycle ended; /healthz and systemd's STATUS= read it.
//! - `shutdown`: SIGTERM / Ctrl-C as a future; `run` takes any future, so tests can stop it.
//!
//! Blocking work (SQLite, forecasting, analysis) runs on tokio's blocking threads, off the
//! async reactor. May use: every stage, the store, config, domain.

mod app;
pub mod apply;
mod cycle;
mod health;
pub mod review;
mod scheduler;
mod shutdown;

pub use app::{Clock, Shared, SystemClock, lock as lock_store, shared};
pub use cycle::{CycleReport, ScopeState, cycle, evaluate};
pub use health::{Health, Verdict};
pub use scheduler::{RunError, Service, interval_s, limit_heap_arenas, run, run_service};
pub use shutdown::signal as shutdown_signal;

/// Runs `f` on tokio's blocking threads and waits for it; a panic inside is resumed here.
pub(crate) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("blocking task cancelled: {e}"),
    }
}

/// Returns freed heap memory to the system (glibc's malloc_trim, 1–2 ms on the 15,000-series
/// fleet); elsewhere nothing to do. After each cycle, and inside it between stages (what one
/// stage freed would otherwise stay resident through the next stage's peak).
pub(crate) fn trim_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory at the allocator's discretion.
    unsafe {
        libc::malloc_trim(0);
    }
}
