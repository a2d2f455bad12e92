//! ISO weeks in the configured time zone: `2026-W49` is Monday 00:00 to the next Monday 00:00
//! local time (a week with a daylight-saving change is 167 or 169 hours long).
//!
//! Pure. May use: chrono.

use crate::domain::Ts;
use chrono::{Datelike, Duration, NaiveDate, TimeZone, Weekday};
use chrono_tz::Tz;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Week {
    /// `2026-W49`.
    pub label: String,
    pub year: i32,
    pub number: u32,
    /// Monday 00:00 local, as a Unix time.
    pub from: Ts,
    /// The next Monday 00:00 local.
    pub to: Ts,
}

fn midnight(d: NaiveDate, tz: Tz) -> Ts {
    let naive = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    // A midnight skipped by a clock change (some zones) is the first instant after it.
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + Duration::hours(1))).earliest())
        .map(|t| t.timestamp())
        .unwrap_or_else(|| naive.and_utc().timestamp())
}

/// A Unix time as RFC 3339 in `tz`.
pub fn local(t: Ts, tz: Tz) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.with_timezone(&tz).to_rfc3339())
        .unwrap_or_default()
}

/// Days after `day` (`YYYY-MM-DD`) to the end of its month.
pub fn days_left_in_month(day: &str) -> i64 {
    let Ok(d) = NaiveDate::parse_from_str(day, "%Y-%m-%d") else {
        return 0;
    };
    let first_next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    first_next.map(|n| (n - d).num_days() - 1).unwrap_or(0)
}

impl Week {
    /// Where the review of this week ends at `now`: the week's end, or `now` while the week
    /// is not over (and never before its first second).
    pub fn end_at(&self, now: Ts) -> Ts {
        self.to.min(now.max(self.from + 1))
    }

    /// The ISO week `year`-W`number`, or None when it does not exist.
    pub fn iso(year: i32, number: u32, tz: Tz) -> Option<Week> {
        let monday = NaiveDate::from_isoywd_opt(year, number, Weekday::Mon)?;
        let next = monday + Duration::days(7);
        Some(Week {
            label: format!("{year}-W{number:02}"),
            year,
            number,
            from: midnight(monday, tz),
            to: midnight(next, tz),
        })
    }

    /// Parses `2026-W49` (or `2026-w49`, `2026W49`).
    pub fn parse(s: &str, tz: Tz) -> Result<Week, String> {
        let bad = || format!("week {s:?}: expected an ISO week like 2026-W49 (year, W, week number 1–53)");
        let u = s.trim().to_ascii_uppercase();
        let (y, n) = u.split_once('W').ok_or_else(bad)?;
        let year: i32 = y.trim_end_matches('-').parse().map_err(|_| bad())?;
        // Nothing headroom stores predates 1970 (Unix time) and four digits are an ISO year.
        if !(1970..=9999).contains(&year) {
            return Err(format!("week {s:?}: year {year} is outside 1970–9999"));
        }
        let number: u32 = n.parse().map_err(|_| bad())?;
        Week::iso(year, number, tz).ok_or_else(|| format!("week {s:?}: {year} has no week {number}"))
    }

    /// The week that contains `t`.
    pub fn containing(t: Ts, tz: Tz) -> Week {
        let d = chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.with_timezone(&tz).date_naive())
            .unwrap_or_default();
        let iso = d.iso_week();
        Week::iso(iso.year(), iso.week(), tz).expect("a date's own ISO week exists")
    }

    /// The last full week before `t` (what Monday's review covers).
    pub fn last_full(t: Ts, tz: Tz) -> Week {
        Week::containing(t, tz).back(1, tz)
    }

    /// The week `k` weeks before this one.
    pub fn back(&self, k: i64, tz: Tz) -> Week {
        let monday = NaiveDate::from_isoywd_opt(self.year, self.number, Weekday::Mon).unwrap_or_default() - Duration::days(7 * k);
        let iso = monday.iso_week();
        Week::iso(iso.year(), iso.week(), tz).expect("a date's own ISO week exists")
    }

    /// Its seven days, `YYYY-MM-DD`.
    pub fn days(&self) -> Vec<String> {
        let monday = NaiveDate::from_isoywd_opt(self.year, self.number, Weekday::Mon).unwrap_or_default();
        (0..7)
            .map(|i| (monday + Duration::days(i)).format("%Y-%m-%d").to_string())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weeks_are_iso_and_local() {
        let w = Week::parse("2026-W49", chrono_tz::UTC).unwrap();
        // 2026-11-30 is a Monday; 2026-12-07 the next.
        assert_eq!(
            w.from,
            NaiveDate::from_ymd_opt(2026, 11, 30)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp()
        );
        assert_eq!(w.to - w.from, 7 * 86_400);
        assert_eq!(w.days().first().map(String::as_str), Some("2026-11-30"));
        assert_eq!(w.days().last().map(String::as_str), Some("2026-12-06"));
        // Berlin is UTC+1 in winter: its Monday starts an hour earlier in UTC.
        let b = Week::parse("2026-w49", chrono_tz::Europe::Berlin).unwrap();
        assert_eq!(w.from - b.from, 3_600);
        // The week with the autumn change in Berlin (25 October 2026) is 169 hours long.
        let dst = Week::containing(b.from - 36 * 86_400, chrono_tz::Europe::Berlin);
        assert_eq!(dst.label, "2026-W43");
        assert_eq!(dst.to - dst.from, 169 * 3_600);
        assert_eq!(Week::last_full(w.from + 3_600, chrono_tz::UTC).label, "2026-W48");
        assert_eq!(w.back(49, chrono_tz::UTC).label, "2025-W52");
        assert!(Week::parse("2026-W54", chrono_tz::UTC).is_err());
        // Issue 35, item 11: year 0 reviewed an empty week and exited 0.
        assert!(Week::parse("0000-W01", chrono_tz::UTC).unwrap_err().contains("outside 1970–9999"));
        assert!(
            Week::parse("last week", chrono_tz::UTC)
                .unwrap_err()
                .contains("expected an ISO week")
        );
        assert_eq!(days_left_in_month("2026-12-06"), 25);
        assert_eq!(days_left_in_month("2026-02-28"), 0);
    }
}
