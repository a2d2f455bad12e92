//! systemd's service protocol, without a library: `notify` sends READY=1, WATCHDOG=1,
//! STATUS=…, RELOADING=1 and STOPPING=1 as datagrams to `$NOTIFY_SOCKET` (a path, or an
//! abstract socket when it starts with `@`); `watchdog_interval` reads `$WATCHDOG_USEC` (and
//! `$WATCHDOG_PID`, when set, must be this process). Outside systemd (no `$NOTIFY_SOCKET`)
//! every call does nothing.
//!
//! May use: std's Unix sockets; libc for the monotonic clock.

use std::time::Duration;

/// Tells systemd a reload began: RELOADING=1 with the monotonic clock's time in µs (which
/// `Type=notify-reload` requires); `reloaded` ends it.
pub fn reloading() {
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={}", monotonic_usec()));
}

/// Tells systemd the reload is over (whatever its outcome) and what the daemon is doing.
pub fn reloaded(status: &str) {
    notify(&format!("READY=1\nSTATUS={status}"));
}

/// CLOCK_MONOTONIC in microseconds, the clock systemd compares MONOTONIC_USEC against.
fn monotonic_usec() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec this function owns.
    unsafe {
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
    }
    ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
}

/// Sends one notification (`KEY=VALUE` lines). Never blocks: a full socket queue (a manager
/// that does not read) drops the message rather than stall the scheduler; errors are ignored,
/// the service manager going away must not stop the daemon.
pub fn notify(state: &str) {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else { return };
    let _ = send(&path, state);
}

#[cfg(target_os = "linux")]
fn send(path: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let bytes = path.as_bytes();
    let addr = match bytes.first() {
        Some(b'@') => SocketAddr::from_abstract_name(&bytes[1..])?,
        Some(b'/') => SocketAddr::from_pathname(std::path::Path::new(path))?,
        _ => return Ok(()),
    };
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    sock.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn send(path: &std::ffi::OsStr, state: &str) -> std::io::Result<()> {
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    sock.send_to(state.as_bytes(), path)?;
    Ok(())
}

/// How often to send WATCHDOG=1: half of `WatchdogSec=` (systemd's advice), when the
/// watchdog is on for this process.
pub fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec / 2))
}

/// A status line for STATUS=: one line, no newlines (systemd shows it in `systemctl status`).
pub fn status(line: &str) {
    notify(&format!("STATUS={}", line.replace('\n', " ")));
}
