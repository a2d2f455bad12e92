//! Typed quantities for the sizing model, so a byte rate cannot be passed where a bit rate is
//! expected: sizes (bytes), byte rates, bit rates, request rates, durations and shares, each a
//! newtype over its base unit. Money is `domain::Money` (integer micro-dollars).
//!
//! Sizes and rates are decimal (SI): 1 KB = 1,000 bytes, 1 Gbit/s = 10^9 bit/s, as the seed
//! documents and AWS's network figures use them; binary units (KiB, MiB, GiB) are accepted
//! where written so. `parse` reads "5 KB", "1.2 Gbit/s", "600 s", "10 %" and says what it
//! expected when the unit is of the wrong kind.
//!
//! Pure. May use: domain.

use std::fmt;
use std::ops::{Add, Mul};

/// A size in bytes.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Bytes(pub f64);
/// A data rate in bytes per second.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct ByteRate(pub f64);
/// A data rate in bits per second.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct BitRate(pub f64);
/// Requests per second.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct ReqRate(pub f64);
/// A duration in seconds.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Seconds(pub f64);
/// A share in [0, 1] (10 % = 0.10).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Default)]
pub struct Share(pub f64);

pub const SECONDS_PER_DAY: f64 = 86_400.0;
/// AWS's billing month.
pub const HOURS_PER_MONTH: f64 = 730.0;

impl ByteRate {
    pub fn bits(self) -> BitRate {
        BitRate(self.0 * 8.0)
    }
    /// Bytes moved over one day at this rate.
    pub fn per_day(self) -> Bytes {
        Bytes(self.0 * SECONDS_PER_DAY)
    }
}

impl BitRate {
    pub fn bytes(self) -> ByteRate {
        ByteRate(self.0 / 8.0)
    }
}

impl Bytes {
    /// The average rate that moves this many bytes in a day.
    pub fn per_day_rate(self) -> ByteRate {
        ByteRate(self.0 / SECONDS_PER_DAY)
    }
}

impl Mul<Bytes> for ReqRate {
    type Output = ByteRate;
    fn mul(self, b: Bytes) -> ByteRate {
        ByteRate(self.0 * b.0)
    }
}

impl Add for Bytes {
    type Output = Bytes;
    fn add(self, o: Bytes) -> Bytes {
        Bytes(self.0 + o.0)
    }
}

impl Add for ByteRate {
    type Output = ByteRate;
    fn add(self, o: ByteRate) -> ByteRate {
        ByteRate(self.0 + o.0)
    }
}

/// What kind of quantity an input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Count,
    Share,
    Duration,
    Size,
    ByteRate,
    BitRate,
    ReqRate,
    Money,
}

impl Kind {
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Count => "a plain number",
            Kind::Share => "a share such as `10 %` or `0.1`",
            Kind::Duration => "a duration such as `600 s` or `10 min`",
            Kind::Size => "a size such as `5 KB` or `4 GiB`",
            Kind::ByteRate => "a byte rate such as `25 KB/s`",
            Kind::BitRate => "a bit rate such as `10 Mbit/s` or `29 Gbps`",
            Kind::ReqRate => "a request rate such as `50 req/s`",
            Kind::Money => "a dollar amount such as `0.0416` or `$3.50`",
        }
    }
}

/// Every unit headroom reads, with its kind and factor to the base unit.
const UNITS: &[(&str, Kind, f64)] = &[
    ("B", Kind::Size, 1.0),
    ("KB", Kind::Size, 1e3),
    ("MB", Kind::Size, 1e6),
    ("GB", Kind::Size, 1e9),
    ("TB", Kind::Size, 1e12),
    ("PB", Kind::Size, 1e15),
    ("KiB", Kind::Size, 1024.0),
    ("MiB", Kind::Size, 1_048_576.0),
    ("GiB", Kind::Size, 1_073_741_824.0),
    ("TiB", Kind::Size, 1_099_511_627_776.0),
    ("B/s", Kind::ByteRate, 1.0),
    ("KB/s", Kind::ByteRate, 1e3),
    ("MB/s", Kind::ByteRate, 1e6),
    ("GB/s", Kind::ByteRate, 1e9),
    ("bit/s", Kind::BitRate, 1.0),
    ("bps", Kind::BitRate, 1.0),
    ("kbit/s", Kind::BitRate, 1e3),
    ("kbps", Kind::BitRate, 1e3),
    ("Mbit/s", Kind::BitRate, 1e6),
    ("Mbps", Kind::BitRate, 1e6),
    ("Gbit/s", Kind::BitRate, 1e9),
    ("Gbps", Kind::BitRate, 1e9),
    ("req/s", Kind::ReqRate, 1.0),
    ("rps", Kind::ReqRate, 1.0),
    ("req/min", Kind::ReqRate, 1.0 / 60.0),
    ("s", Kind::Duration, 1.0),
    ("min", Kind::Duration, 60.0),
    ("h", Kind::Duration, 3600.0),
    ("d", Kind::Duration, 86_400.0),
    ("%", Kind::Share, 0.01),
    ("$", Kind::Money, 1.0),
    ("USD", Kind::Money, 1.0),
];

/// Parses `text` as a quantity of `kind`, in its base unit (bytes, bytes/s, bit/s, req/s,
/// seconds, share 0–1, USD). A bare number is read in `default_unit`.
pub fn parse(text: &str, kind: Kind, default_unit: &str) -> Result<f64, String> {
    let t = text.trim().replace(',', "");
    let (num, unit) = if let Some(rest) = t.strip_prefix('$') {
        (rest.trim().to_string(), "$".to_string())
    } else {
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e' || c == 'E' || c == '+'))
            .unwrap_or(t.len());
        (t[..split].trim().to_string(), t[split..].trim().to_string())
    };
    let value: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a number with a unit; expected {}", kind.describe()))?;
    if !value.is_finite() {
        return Err(format!("`{text}` is not a finite number"));
    }
    let unit = if unit.is_empty() { default_unit.to_string() } else { unit };
    if unit.is_empty() {
        return if kind == Kind::Share && !(0.0..=1.0).contains(&value) {
            Err(format!(
                "{value} is not a share between 0 and 1 (write `{value} %` for a percentage)"
            ))
        } else {
            Ok(value)
        };
    }
    match UNITS.iter().find(|(u, _, _)| *u == unit) {
        Some((_, k, f)) if *k == kind => Ok(value * f),
        Some((_, k, _)) => Err(format!("`{text}` is {}, but {} is expected here", article(*k), kind.describe())),
        None => Err(format!("unknown unit `{unit}` in `{text}`; expected {}", kind.describe())),
    }
}

fn article(k: Kind) -> &'static str {
    match k {
        Kind::Count => "a count",
        Kind::Share => "a share",
        Kind::Duration => "a duration",
        Kind::Size => "a size",
        Kind::ByteRate => "a byte rate",
        Kind::BitRate => "a bit rate",
        Kind::ReqRate => "a request rate",
        Kind::Money => "an amount of money",
    }
}

/// A number with a readable scale: 1.67, 83.3, 12,500, 2.5e14.
pub struct Num(pub f64);

impl fmt::Display for Num {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let a = v.abs();
        if a == 0.0 {
            write!(f, "0")
        } else if a >= 1e9 && (v.fract() != 0.0 || a >= 1e15) {
            write!(f, "{v:.3e}")
        } else if a >= 1000.0 || v.fract() == 0.0 {
            let s = format!("{:.0}", v.abs());
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if i > 0 && (s.len() - i) % 3 == 0 {
                    out.push(',');
                }
                out.push(c);
            }
            write!(f, "{}{out}", if v < 0.0 { "-" } else { "" })
        } else if a >= 100.0 {
            write!(f, "{v:.1}")
        } else if a >= 1.0 {
            write!(f, "{v:.2}")
        } else if a >= 0.001 {
            write!(f, "{v:.4}")
        } else {
            write!(f, "{v:.3e}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_convert_to_base_and_refuse_the_wrong_kind() {
        assert_eq!(parse("5 KB", Kind::Size, "KB"), Ok(5_000.0));
        assert_eq!(parse("5", Kind::Size, "KB"), Ok(5_000.0));
        assert_eq!(parse("4 GiB", Kind::Size, "GB"), Ok(4.0 * 1_073_741_824.0));
        assert_eq!(parse("29 Gbps", Kind::BitRate, "Gbit/s"), Ok(29e9));
        assert_eq!(parse("10 %", Kind::Share, ""), Ok(0.1));
        assert_eq!(parse("0.05", Kind::Share, ""), Ok(0.05));
        assert_eq!(parse("10 min", Kind::Duration, "s"), Ok(600.0));
        assert_eq!(parse("$3.50", Kind::Money, ""), Ok(3.5));
        assert_eq!(parse("1,000,000", Kind::Count, ""), Ok(1e6));
        assert_eq!(
            parse("5 KB", Kind::BitRate, "Mbit/s"),
            Err("`5 KB` is a size, but a bit rate such as `10 Mbit/s` or `29 Gbps` is expected here".into())
        );
        assert_eq!(
            parse("150", Kind::Share, ""),
            Err("150 is not a share between 0 and 1 (write `150 %` for a percentage)".into())
        );
        assert!(
            parse("5 furlongs", Kind::Size, "KB")
                .unwrap_err()
                .starts_with("unknown unit `furlongs`")
        );
        assert!(parse("abc", Kind::Count, "").is_err());
    }

    #[test]
    fn byte_and_bit_rates_convert_by_eight() {
        let r = ReqRate(83.0) * Bytes(20_000.0);
        assert_eq!(r, ByteRate(1_660_000.0));
        assert_eq!(r.bits(), BitRate(13_280_000.0));
        assert_eq!(r.bits().bytes(), r);
        assert_eq!(Bytes(8.64e9).per_day_rate(), ByteRate(1e5));
    }
}
