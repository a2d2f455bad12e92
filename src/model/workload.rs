//! Workload formulas (seeds-model.md §1): users → request rates, active and peak users,
//! bandwidth, memory and storage.
//!
//! Pure. May use: model::units.

use super::units::*;

/// RPS = concurrent users × requests per session ÷ session length (000 §3.1).
pub fn rps_from_sessions(users: f64, requests_per_session: f64, session: Seconds) -> ReqRate {
    ReqRate(users * requests_per_session / session.0)
}

/// RPS = concurrent users × requests per user per minute ÷ 60 (002).
pub fn rps_from_rate(users: f64, requests_per_user_per_minute: f64) -> ReqRate {
    ReqRate(users * requests_per_user_per_minute / 60.0)
}

/// DAU = total users × active share (000 §3.2).
pub fn daily_active(total_users: f64, active: Share) -> f64 {
    total_users * active.0
}

/// Peak concurrent users = DAU × peak share (000 §3.2; 004: DAU × 5 %).
pub fn peak_concurrent(dau: f64, peak: Share) -> f64 {
    dau * peak.0
}

/// Data rate of a request stream: RPS × bytes per request (000 §3.3).
pub fn data_rate(rps: ReqRate, size: Bytes) -> ByteRate {
    rps * size
}

/// Memory = users × memory per user (000 §4.2).
pub fn memory(users: f64, per_user: Bytes) -> Bytes {
    Bytes(users * per_user.0)
}

/// Storage = users × data per user (000 §4.3, 004 Bad 3).
pub fn storage(users: f64, per_user: Bytes) -> Bytes {
    Bytes(users * per_user.0)
}

/// Daily growth of stored data at a daily growth share (004: 1 % per day).
pub fn storage_growth_per_day(stored: Bytes, daily: Share) -> Bytes {
    Bytes(stored.0 * daily.0)
}

/// Bytes one user moves per session = request size × requests per session (004 Bad 2).
pub fn transfer_per_user(request: Bytes, requests_per_session: f64) -> Bytes {
    Bytes(request.0 * requests_per_session)
}

/// Peak bandwidth = (daily transfer ÷ 86,400 s) × peak factor (004 Bad 2), as a bit rate.
pub fn peak_bandwidth(daily: Bytes, peak_factor: f64) -> BitRate {
    ByteRate(daily.per_day_rate().0 * peak_factor).bits()
}

/// Origin bandwidth after a CDN and compression (004 Good 3):
/// original × (1 − cache hit ratio) × (1 − compression reduction).
pub fn after_cdn(original: BitRate, hit: Share, compression: Share) -> (BitRate, BitRate) {
    let origin = BitRate(original.0 * (1.0 - hit.0));
    (origin, BitRate(origin.0 * (1.0 - compression.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearview_workload_from_its_inputs() {
        // 100 users, 10 requests per 10-minute session.
        let rps = rps_from_sessions(100.0, 10.0, Seconds(600.0));
        assert!((rps.0 - 100.0 * 10.0 / 600.0).abs() < 1e-12);
        let dau = daily_active(1e6, Share(0.10));
        assert_eq!(dau, 1e6 * 0.10);
        assert_eq!(peak_concurrent(dau, Share(0.05)), 1e6 * 0.10 * 0.05);
        let out = data_rate(rps, Bytes(15e3));
        assert!((out.0 - 100.0 * 10.0 / 600.0 * 15e3).abs() < 1e-9);
        assert_eq!(memory(100.0, Bytes(100e6)), Bytes(100.0 * 100e6));
    }

    #[test]
    fn high_traffic_bandwidth_follows_its_formula() {
        let per_user = transfer_per_user(Bytes(50e3), 10.0);
        let daily = Bytes(500e6 * per_user.0);
        let peak = peak_bandwidth(daily, 10.0);
        assert!((peak.0 - 500e6 * 50e3 * 10.0 / 86_400.0 * 10.0 * 8.0).abs() < 1.0);
        let (origin, app) = after_cdn(peak, Share(0.9), Share(0.7));
        assert!((origin.0 - peak.0 * 0.1).abs() < 1e-3);
        assert!((app.0 - peak.0 * 0.1 * 0.3).abs() < 1e-3);
    }
}
