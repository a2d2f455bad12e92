//! What every cycle shares: the clock and the store handle.
//!
//! May use: store, domain.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// Where "now" comes from: each cycle reads it once and passes it down.
pub trait Clock {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// The store as the runtime holds it: one handle for every scope, locked only on blocking
/// threads and only for a read at start-up or one cycle's commit.
pub type Shared<S> = Arc<Mutex<S>>;

pub fn shared<S>(store: S) -> Shared<S> {
    Arc::new(Mutex::new(store))
}

/// Locks the store; a panic in another holder does not make the store unusable (SQLite rolled
/// its transaction back).
pub fn lock<S>(s: &Shared<S>) -> std::sync::MutexGuard<'_, S> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}
