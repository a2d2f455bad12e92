//! `Points`: a series' points, ascending by time, one per timestamp, held compactly.
//!
//! A daemon watching 15,000 series keeps 14 days of 5-minute points for each: 60 million
//! points, 923 MiB as `(i64, f64)` pairs. `Points` keeps the recent points exact and the
//! older ones on a regular grid, quantized to 12 bits per point:
//!
//! - the **tail**: the latest points as `(Ts, f64)`, exact (what alert rules read: the last
//!   minutes and hours), at least `MIN_EXACT` periods of them once the body exists;
//! - the **body**: older points sealed in chunks of `CHUNK` periods. A chunk keeps its own
//!   scale (its lowest value and the step between levels) and one 12-bit level per period (two
//!   in three bytes), so a value reads back within half a step: (chunk's max − chunk's min) ÷
//!   8,186. A period with no point is a gap; a NaN stays NaN. A chunk of whole numbers is kept
//!   exactly (step 1) while 16 bits span it (65,533): a series whose every chunk is whole
//!   numbers spanning at most 253 (counts: desired capacity, instances in service) takes one
//!   byte a period, one with a chunk spanning more than 4,093 two bytes, exactly; the rest
//!   12 bits. `compact_with(period, fine)` keeps 16 bits a level (half a step: range ÷
//!   131,066) for what the runtime asks it of, CloudWatch Sums (consumed capacity, requests,
//!   errors): a DynamoDB recommendation is ⌈p95 ÷ 70 %⌉, and at 12 bits the demo's p95 of
//!   630.00 RCU/s read back a few hundredths high and turned 900 RCU into 901.
//!
//! Why 12 bits: a daemon watching 15,000 series must stay under 300 MB while it works, and
//! the window is most of what it holds. Half a step of a 5-hour chunk's range (0.006 % of it:
//! 0.005 points of CPU on a chunk from 10 % to 50 %) is far below what any threshold, p95 or
//! forecast here can tell apart; the store keeps every point exact.
//!
//! Nothing is sealed until `compact` is called with the series' period (the runtime does, for
//! the scope's window after each merge): points built any other way (tests, fixtures, the
//! store's reads) stay exact. Points off the period grid, or infinite values, are never sealed.
//!
//! May use: std, serde and `domain::packed`.

use super::{Ts, packed};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Periods per sealed chunk: the chunk's values share one scale.
const CHUNK: usize = 64;
/// Periods kept exact after the last sealed chunk.
const MIN_EXACT: usize = 16;
/// A period with no point (levels in their canonical, 16-bit terms).
const GAP: u16 = u16::MAX;
/// A period whose point is NaN.
const NAN: u16 = u16::MAX - 1;
/// The highest level of a 12-bit chunk: levels 0..=TOP spread a chunk's lowest to highest
/// value.
const TOP: u16 = packed::MAX - 2;
/// The widest span of whole numbers a 16-bit body keeps exactly (step 1).
const TOP16: u16 = u16::MAX - 2;
/// The same as a byte.
const GAP8: u8 = u8::MAX;
const NAN8: u8 = u8::MAX - 1;
const TOP8: u8 = u8::MAX - 2;
/// The same in 12 bits.
const GAP12: u16 = packed::MAX;
const NAN12: u16 = packed::MAX - 1;

/// A series' points (see the module's documentation).
#[derive(Clone, Debug, Default)]
pub struct Points {
    /// The body's period in seconds (0 while there is no body).
    period: i64,
    /// The time of the body's first slot.
    start: Ts,
    /// Leading body slots dropped by `retain_since` (fewer than a chunk).
    skip: usize,
    /// One level per period, `CHUNK` per chunk: a byte, 12 bits (two levels in three bytes) or
    /// two bytes (little-endian) each, as `width` says.
    body: Vec<u8>,
    /// Bits a level: 8, 12 or 16 (the narrowest every chunk fits; 0 while there is no body).
    width: u8,
    /// Per chunk: (lowest value, step between levels).
    scales: Vec<(f64, f64)>,
    /// Points in the body from `skip` on (gaps excluded).
    sealed: usize,
    /// The points after the body, exact.
    tail: Vec<(Ts, f64)>,
}

impl Points {
    pub fn new() -> Points {
        Points::default()
    }

    pub fn len(&self) -> usize {
        self.sealed + self.tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every point, oldest first.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            points: self,
            at: self.skip,
            end: self.slots(),
            tail: self.tail.iter(),
        }
    }

    /// The points with `from <= t < to`, oldest first, without decoding the others.
    pub fn range(&self, from: Ts, to: Ts) -> Iter<'_> {
        let (at, end) = (self.slot_at(from).max(self.skip), self.slot_at(to).max(self.skip));
        let lo = self.tail.partition_point(|p| p.0 < from);
        let hi = self.tail.partition_point(|p| p.0 < to).max(lo);
        Iter {
            points: self,
            at,
            end: end.max(at),
            tail: self.tail[lo..hi].iter(),
        }
    }

    /// The points at or after `from`.
    pub fn since(&self, from: Ts) -> Iter<'_> {
        self.range(from, Ts::MAX)
    }

    /// The values, oldest first.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.iter().map(|p| p.1)
    }

    pub fn first(&self) -> Option<(Ts, f64)> {
        self.iter().next()
    }

    pub fn last(&self) -> Option<(Ts, f64)> {
        if let Some(p) = self.tail.last() {
            return Some(*p);
        }
        (self.skip..self.slots()).rev().find_map(|i| self.slot(i))
    }

    /// The points as pairs (a copy: for code that wants a slice).
    pub fn to_vec(&self) -> Vec<(Ts, f64)> {
        let mut v = Vec::with_capacity(self.len());
        v.extend(self.iter());
        v
    }

    /// Bytes held on the heap (capacity, not length).
    pub fn heap_bytes(&self) -> usize {
        self.body.capacity() + self.scales.capacity() * 16 + self.tail.capacity() * 16
    }

    /// The first body slot at or after `t` (the body's length when none is).
    fn slot_at(&self, t: Ts) -> usize {
        if self.body.is_empty() || t <= self.start {
            return 0;
        }
        let d = t.saturating_sub(self.start);
        let i = d / self.period + i64::from(d % self.period != 0);
        usize::try_from(i).unwrap_or(usize::MAX).min(self.slots())
    }

    fn slots(&self) -> usize {
        match self.width {
            12 => packed::len(&self.body),
            16 => self.body.len() / 2,
            _ => self.body.len(),
        }
    }

    /// The bytes that `slots` levels take.
    fn bytes(&self, slots: usize) -> usize {
        match self.width {
            12 => packed::bytes_for(slots),
            16 => slots * 2,
            _ => slots,
        }
    }

    /// The level of body slot `i`, in canonical (16-bit) terms.
    fn level(&self, i: usize) -> Option<u16> {
        match self.width {
            12 => packed::get(&self.body, i).map(|k| match k {
                GAP12 => GAP,
                NAN12 => NAN,
                k => k,
            }),
            16 => {
                let b = self.body.get(2 * i..2 * i + 2)?;
                Some(u16::from_le_bytes([b[0], b[1]]))
            }
            _ => Some(match *self.body.get(i)? {
                GAP8 => GAP,
                NAN8 => NAN,
                k => u16::from(k),
            }),
        }
    }

    fn push_level(&mut self, k: u16) {
        if self.width == 12 {
            packed::push(
                &mut self.body,
                match k {
                    GAP => GAP12,
                    NAN => NAN12,
                    k => k.min(TOP),
                },
            );
        } else if self.width == 16 {
            self.body.extend_from_slice(&k.to_le_bytes());
        } else {
            self.body.push(match k {
                GAP => GAP8,
                NAN => NAN8,
                k => u8::try_from(k).unwrap_or(TOP8).min(TOP8),
            });
        }
    }

    /// `width` bits a level from now on (the levels and scales are unchanged).
    fn widen(&mut self, width: u8) {
        let levels: Vec<u16> = (0..self.slots()).filter_map(|i| self.level(i)).collect();
        self.width = width;
        self.body = Vec::with_capacity(self.bytes(levels.len()));
        for k in levels {
            self.push_level(k);
        }
    }

    fn slot(&self, i: usize) -> Option<(Ts, f64)> {
        let level = self.level(i)?;
        let t = self.start + i as Ts * self.period;
        match level {
            GAP => None,
            NAN => Some((t, f64::NAN)),
            k => {
                let (lo, step) = self.scales[i / CHUNK];
                Some((t, lo + f64::from(k) * step))
            }
        }
    }

    /// The time after the body's last slot.
    fn body_end(&self) -> Ts {
        self.start + self.slots() as Ts * self.period
    }

    /// Adds a point after the last one (growing as a `Vec` does: for reading many points in
    /// a row), or merges it.
    pub fn push(&mut self, p: (Ts, f64)) {
        let after_body = self.body.is_empty() || p.0 >= self.body_end();
        if after_body && self.tail.last().is_none_or(|last| last.0 < p.0) {
            self.tail.push(p);
        } else {
            self.merge(&[p]);
        }
    }

    /// Merges points (ascending, one per timestamp): a merged point replaces the one at the
    /// same time (late data corrects earlier values). Chunks from the first merged point's
    /// on go back to exact first.
    pub fn merge(&mut self, fetched: &[(Ts, f64)]) {
        let Some(first) = fetched.first() else { return };
        if !self.body.is_empty() && first.0 < self.body_end() {
            let chunk = if first.0 <= self.start {
                0
            } else {
                ((first.0 - self.start) / self.period) as usize / CHUNK
            };
            self.unseal_from(chunk);
        }
        // Exactly the room needed: a window of thousands of series gains a point or a few
        // each cycle, and doubling each tail would hold as much again.
        self.tail.reserve_exact(fetched.len());
        merge_sorted(&mut self.tail, fetched);
    }

    /// Turns chunks `chunk..` back into exact points at the tail's front.
    fn unseal_from(&mut self, chunk: usize) {
        let from = (chunk * CHUNK).max(self.skip);
        let mut exact: Vec<(Ts, f64)> = (from..self.slots()).filter_map(|i| self.slot(i)).collect();
        self.sealed -= exact.len();
        exact.extend_from_slice(&self.tail);
        self.tail = exact;
        self.body.truncate(self.bytes(chunk * CHUNK));
        self.scales.truncate(chunk);
        if self.slots() <= self.skip {
            self.clear_body();
        }
    }

    fn clear_body(&mut self) {
        self.body = Vec::new();
        self.width = 0;
        self.scales = Vec::new();
        self.skip = 0;
        self.sealed = 0;
        self.period = 0;
        self.start = 0;
    }

    /// Drops the points before `since`.
    pub fn retain_since(&mut self, since: Ts) {
        if !self.body.is_empty() && since > self.start + self.skip as Ts * self.period {
            let drop = self.slot_at(since);
            self.sealed -= (self.skip..drop).filter(|i| self.level(*i) != Some(GAP)).count();
            self.skip = drop;
            if self.skip == self.slots() {
                self.clear_body();
            } else {
                let whole = self.skip / CHUNK;
                if whole > 0 {
                    let bytes = self.bytes(whole * CHUNK);
                    self.body.drain(..bytes);
                    self.scales.drain(..whole);
                    self.start += (whole * CHUNK) as Ts * self.period;
                    self.skip -= whole * CHUNK;
                }
            }
        }
        let cut = self.tail.partition_point(|p| p.0 < since);
        self.tail.drain(..cut);
    }

    /// Seals what is older than the last `MIN_EXACT` periods into chunks on a grid of
    /// `period` seconds, as far as the points lie on that grid and are finite or NaN.
    pub fn compact(&mut self, period: i64) {
        self.compact_with(period, false);
    }

    /// `compact`, with 16-bit levels when `fine` (the runtime asks it for sums: consumed
    /// capacity, requests, errors, whose recommendations round a p95 up to whole units).
    pub fn compact_with(&mut self, period: i64, fine: bool) {
        if period <= 0 || (!self.body.is_empty() && self.period != period) {
            return;
        }
        self.seal(period, fine);
    }

    fn seal(&mut self, step: i64, fine: bool) {
        let mut taken = 0;
        loop {
            let rest = &self.tail[taken..];
            let (Some(head), Some(last)) = (rest.first(), rest.last()) else {
                break;
            };
            let base = if self.body.is_empty() { head.0 } else { self.body_end() };
            let chunk_end = base + CHUNK as Ts * step;
            if last.0 < chunk_end + MIN_EXACT as Ts * step {
                break;
            }
            let n = rest.partition_point(|p| p.0 < chunk_end);
            let Some(q) = quantize(&rest[..n], base, step, fine) else { break };
            if self.body.is_empty() {
                self.start = base;
                self.period = step;
                self.skip = 0;
                self.width = q.width;
            } else if q.width > self.width {
                self.widen(q.width);
            }
            self.body.reserve_exact(self.bytes(CHUNK));
            for k in q.levels {
                self.push_level(k);
            }
            self.scales.reserve_exact(1);
            self.scales.push(q.scale);
            self.sealed += n;
            taken += n;
        }
        if taken > 0 {
            self.tail.drain(..taken);
            self.tail.shrink_to_fit();
        }
    }
}

/// A chunk's levels and scale.
struct Quantized {
    levels: [u16; CHUNK],
    /// (lowest value, step between levels)
    scale: (f64, f64),
    /// Bits a level it needs: 8 (whole numbers spanning at most 253), 16 (whole numbers
    /// spanning more than 4,093, up to 65,533: exact), else 12.
    width: u8,
}

/// The levels of a chunk's points (times `base + k × step`, k < CHUNK); `None` when a point
/// is off that grid or infinite.
fn quantize(chunk: &[(Ts, f64)], base: Ts, step: i64, fine: bool) -> Option<Quantized> {
    if chunk
        .iter()
        .any(|(t, v)| *t < base || (*t - base) % step != 0 || (*t - base) / step >= CHUNK as Ts || v.is_infinite())
    {
        return None;
    }
    let (lo, hi) = chunk
        .iter()
        .filter(|p| !p.1.is_nan())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| (lo.min(p.1), hi.max(p.1)));
    if lo > hi {
        // No value but NaN (or none at all): no scale needed.
        let mut levels = [GAP; CHUNK];
        for (t, _) in chunk {
            levels[((*t - base) / step) as usize] = NAN;
        }
        return Some(Quantized {
            levels,
            scale: (0.0, 0.0),
            width: 8,
        });
    }
    // Whole numbers (below 2^53) with few enough levels between them: step 1, exact.
    let whole = chunk.iter().all(|p| p.1.is_nan() || (p.1.fract() == 0.0 && p.1.abs() < 9.0e15));
    // Whole numbers (counts, sums of counts) are kept exact while 16 bits span them.
    let exact = whole && hi - lo <= f64::from(TOP16);
    let top = if exact || fine { TOP16 } else { TOP };
    let level = if exact { 1.0 } else { (hi - lo) / f64::from(top) };
    let mut levels = [GAP; CHUNK];
    for (t, v) in chunk {
        levels[((*t - base) / step) as usize] = if v.is_nan() {
            NAN
        } else if level > 0.0 {
            ((*v - lo) / level).round().clamp(0.0, f64::from(top)) as u16
        } else {
            0
        };
    }
    Some(Quantized {
        levels,
        scale: (lo, level),
        width: match () {
            _ if exact && hi - lo <= f64::from(TOP8) => 8,
            _ if (exact && hi - lo > f64::from(TOP)) || (fine && !exact) => 16,
            _ => 12,
        },
    })
}

/// Merges `fetched` (ascending) into `points` (ascending): a fetched point replaces the one at
/// the same time.
fn merge_sorted(points: &mut Vec<(Ts, f64)>, fetched: &[(Ts, f64)]) {
    let Some(first) = fetched.first() else { return };
    let at = points.partition_point(|p| p.0 < first.0);
    if at == points.len() {
        points.extend_from_slice(fetched);
        return;
    }
    let tail: Vec<(Ts, f64)> = points.split_off(at);
    let (mut i, mut j) = (0, 0);
    while i < tail.len() || j < fetched.len() {
        match (tail.get(i), fetched.get(j)) {
            (Some(a), Some(b)) if a.0 < b.0 => {
                points.push(*a);
                i += 1;
            }
            (Some(a), Some(b)) if a.0 == b.0 => {
                points.push(*b);
                i += 1;
                j += 1;
            }
            (_, Some(b)) => {
                points.push(*b);
                j += 1;
            }
            (Some(a), None) => {
                points.push(*a);
                i += 1;
            }
            (None, None) => break,
        }
    }
}

/// Iterates a `Points` (or a range of it): the body's slots, then the tail.
#[derive(Clone, Debug)]
pub struct Iter<'a> {
    points: &'a Points,
    at: usize,
    end: usize,
    tail: std::slice::Iter<'a, (Ts, f64)>,
}

impl Iterator for Iter<'_> {
    type Item = (Ts, f64);
    fn next(&mut self) -> Option<(Ts, f64)> {
        while self.at < self.end {
            let i = self.at;
            self.at += 1;
            if let Some(p) = self.points.slot(i) {
                return Some(p);
            }
        }
        self.tail.next().copied()
    }
}

impl<'a> IntoIterator for &'a Points {
    type Item = (Ts, f64);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl From<Vec<(Ts, f64)>> for Points {
    /// Exact points (sorted and one per timestamp, as every series is).
    fn from(tail: Vec<(Ts, f64)>) -> Points {
        Points { tail, ..Points::default() }
    }
}

impl FromIterator<(Ts, f64)> for Points {
    fn from_iter<I: IntoIterator<Item = (Ts, f64)>>(it: I) -> Points {
        Points::from(it.into_iter().collect::<Vec<_>>())
    }
}

impl PartialEq for Points {
    fn eq(&self, other: &Points) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Serialize for Points {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Points {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Points, D::Error> {
        Vec::<(Ts, f64)>::deserialize(d).map(Points::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: i64 = 300;

    /// n points every period from t0, value f(i), with the indexes in `holes` missing.
    fn grid(t0: Ts, n: usize, f: impl Fn(usize) -> f64, holes: &[usize]) -> Vec<(Ts, f64)> {
        (0..n).filter(|i| !holes.contains(i)).map(|i| (t0 + i as Ts * P, f(i))).collect()
    }

    /// The largest difference allowed for a value of a chunk spanning [lo, hi]: half a level.
    fn half_level(lo: f64, hi: f64) -> f64 {
        (hi - lo) / f64::from(TOP) / 2.0 * (1.0 + 1e-9)
    }

    #[test]
    fn compacting_keeps_times_gaps_nans_and_values_within_half_a_level() {
        let f = |i: usize| 50.0 + 20.0 * (i as f64 * 0.37).sin() + (i % 7) as f64 * 0.001;
        let mut exact = grid(1_000_000 * P, 1000, f, &[3, 64, 65, 700]);
        exact[10].1 = f64::NAN;
        let mut p = Points::from(exact.clone());
        p.compact(P);
        // Sealed: whole chunks while MIN_EXACT periods stay after them (after the last
        // chunk's end, the last point is at least MIN_EXACT periods on).
        let chunks = (1000 - 1 - MIN_EXACT) / CHUNK;
        assert_eq!(p.scales.len(), chunks);
        assert_eq!(p.tail.first().map(|q| q.0), Some(exact[0].0 + (chunks * CHUNK) as Ts * P));
        assert_eq!(p.len(), exact.len());
        let got = p.to_vec();
        assert_eq!(got.len(), exact.len());
        for (k, (a, b)) in exact.iter().zip(&got).enumerate() {
            assert_eq!(a.0, b.0, "time of point {k}");
            if a.1.is_nan() {
                assert!(b.1.is_nan(), "point {k} stays NaN");
                continue;
            }
            // The chunk's own range bounds the error.
            let c = ((a.0 - exact[0].0) / P) as usize / CHUNK;
            let in_chunk = exact
                .iter()
                .filter(|q| ((q.0 - exact[0].0) / P) as usize / CHUNK == c && !q.1.is_nan());
            let (lo, hi) = in_chunk.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), q| (lo.min(q.1), hi.max(q.1)));
            let tol = if c < chunks { half_level(lo, hi) } else { 0.0 };
            assert!((a.1 - b.1).abs() <= tol, "point {k}: {} vs {} (tolerance {tol})", a.1, b.1);
        }
        // 12 bits a period and 16 bytes a chunk in the body, 16 a point in the tail, against
        // 16 a point for every point before.
        let body = chunks * CHUNK * 3 / 2 + chunks * 16;
        let tail = p.tail.len() * 16;
        assert_eq!(p.heap_bytes(), body + tail);
        assert!(body * 9 < chunks * CHUNK * 16, "{body} bytes for {} periods", chunks * CHUNK);
    }

    #[test]
    fn ranges_last_and_first_read_across_body_and_tail() {
        let exact = grid(0, 300, |i| i as f64, &[5, 299]);
        let mut p = Points::from(exact.clone());
        p.compact(P);
        assert!(!p.body.is_empty());
        let want = |from: Ts, to: Ts| exact.iter().filter(|q| q.0 >= from && q.0 < to).map(|q| q.0).collect::<Vec<_>>();
        for (from, to) in [
            (0, 10 * P),
            (3 * P + 1, 70 * P),
            (200 * P, 400 * P),
            (-5, 0),
            (290 * P, 290 * P),
            (250 * P, 100 * P),
        ] {
            let got: Vec<Ts> = p.range(from, to).map(|q| q.0).collect();
            assert_eq!(got, want(from, to), "range {from}..{to}");
        }
        assert_eq!(p.first().map(|q| q.0), Some(0));
        assert_eq!(p.last().map(|q| q.0), Some(298 * P));
        assert_eq!(p.since(298 * P).count(), 1);
    }

    #[test]
    fn merging_into_the_body_unseals_and_replaces() {
        let exact = grid(0, 400, |i| i as f64, &[]);
        let mut p = Points::from(exact.clone());
        p.compact(P);
        let before = p.scales.len();
        // A late correction of period 100 and a new point.
        p.merge(&[(100 * P, -1.0), (400 * P, 400.0)]);
        assert_eq!(p.scales.len(), 100 / CHUNK, "chunks from the corrected one on go back to exact");
        // A push into the body replaces the point at its time.
        p.push((20 * P, 7.5));
        assert_eq!(p.range(20 * P, 21 * P).collect::<Vec<_>>(), vec![(20 * P, 7.5)]);
        assert!(before > p.scales.len());
        assert_eq!(p.len(), 401);
        assert_eq!(p.range(100 * P, 101 * P).next(), Some((100 * P, -1.0)));
        assert_eq!(p.last(), Some((400 * P, 400.0)));
        p.compact(P);
        assert_eq!(p.len(), 401);
        let v = p.to_vec();
        assert!(v.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn retaining_drops_old_points_from_body_and_tail() {
        let exact = grid(0, 500, |i| (i % 10) as f64, &[7, 130]);
        let mut p = Points::from(exact.clone());
        p.compact(P);
        for since in [3 * P + 7, 100 * P, 131 * P, 480 * P, 600 * P] {
            let mut q = p.clone();
            q.retain_since(since);
            let want: Vec<Ts> = exact.iter().filter(|x| x.0 >= since).map(|x| x.0).collect();
            assert_eq!(q.iter().map(|x| x.0).collect::<Vec<_>>(), want, "since {since}");
            assert_eq!(q.len(), want.len());
            // Sealing again after a trim keeps the same points.
            q.push((600 * P, 1.0));
            q.compact(P);
            assert_eq!(q.len(), want.len() + 1);
        }
    }

    #[test]
    fn points_off_the_grid_or_infinite_stay_exact() {
        let mut odd = grid(0, 200, |i| i as f64, &[]);
        odd[3].0 += 1;
        let mut p = Points::from(odd.clone());
        p.compact(P);
        assert!(p.body.is_empty());
        assert_eq!(p.to_vec(), odd);
        let mut inf = grid(0, 200, |i| i as f64, &[]);
        inf[1].1 = f64::INFINITY;
        let mut p = Points::from(inf.clone());
        p.compact(P);
        assert!(p.body.is_empty());
        assert_eq!(p.to_vec(), inf);
    }

    #[test]
    fn whole_numbers_are_exact_and_small_counts_take_a_byte() {
        // A desired capacity between 2 and 40: one byte a period, every value exact.
        let counts = grid(0, 400, |i| (2 + (i * 7) % 39) as f64, &[9]);
        let mut p = Points::from(counts.clone());
        p.compact(P);
        let chunks = (400 - 1 - MIN_EXACT) / CHUNK;
        assert_eq!(p.width, 8);
        assert_eq!(p.body.len(), chunks * CHUNK);
        assert_eq!(p.to_vec(), counts);
        // Then a fractional chunk: the body widens, the counts stay exact, the new chunk is
        // within half a level.
        let more: Vec<(Ts, f64)> = (400..600).map(|i| (i as Ts * P, 0.5 + i as f64 / 3.0)).collect();
        p.merge(&more);
        p.compact(P);
        assert_eq!(p.width, 12);
        let got = p.to_vec();
        let all: Vec<(Ts, f64)> = counts.iter().chain(&more).copied().collect();
        assert_eq!(got.len(), all.len());
        for (a, b) in all.iter().zip(&got) {
            assert_eq!(a.0, b.0);
            // A chunk of whole numbers reads back exactly; one with a fraction in it (the
            // chunk where counts end and fractions begin, too) within half a level of its range.
            let c = (a.0 / P) as usize / CHUNK;
            let in_chunk: Vec<f64> = all.iter().filter(|q| (q.0 / P) as usize / CHUNK == c).map(|q| q.1).collect();
            let (lo, hi) = in_chunk
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
            let tol = if in_chunk.iter().all(|v| v.fract() == 0.0) {
                0.0
            } else {
                half_level(lo, hi)
            };
            assert!((a.1 - b.1).abs() <= tol, "{a:?} vs {b:?} (tolerance {tol})");
        }
        // Whole numbers spanning thousands (each chunk under 4,093): 12 bits, still exact;
        // spanning more (sums of counts: consumed capacity, requests): 16 bits, still exact.
        for (mul, width) in [(60, 12), (300, 16)] {
            let big = grid(0, 200, |i| (i * mul) as f64, &[]);
            let mut p = Points::from(big.clone());
            p.compact(P);
            assert!(!p.body.is_empty());
            assert_eq!(p.width, width, "steps of {mul}");
            assert_eq!(p.to_vec(), big, "steps of {mul}");
        }
        // A 12-bit series that meets a chunk of whole numbers spanning 20,000 widens to 16
        // bits: its earlier chunks read back as before.
        let mut p = Points::from(grid(0, 200, |i| 0.5 + i as f64 / 3.0, &[]));
        p.compact(P);
        let sealed = p.scales.len() * CHUNK;
        let before = p.to_vec();
        assert_eq!(p.width, 12);
        p.merge(&grid(200 * P, 200, |i| (i * 300) as f64, &[]));
        p.compact(P);
        assert_eq!(p.width, 16);
        assert_eq!(&p.to_vec()[..sealed], &before[..sealed]);
        // Sums asked to be fine: 16 bits, within half a level of 65,533.
        let sums = grid(0, 200, |i| 1000.0 + (i as f64 * 0.7).sin() * 333.3, &[]);
        let mut p = Points::from(sums.clone());
        p.compact_with(P, true);
        assert_eq!(p.width, 16);
        let (lo, hi) = sums[..CHUNK]
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), q| (a.min(q.1), b.max(q.1)));
        let tol = (hi - lo) / f64::from(TOP16) / 2.0 * (1.0 + 1e-9);
        for (a, b) in sums[..CHUNK].iter().zip(p.to_vec()) {
            assert!((a.1 - b.1).abs() <= tol, "{a:?} vs {b:?} (tolerance {tol})");
        }
    }

    #[test]
    fn a_constant_chunk_reads_back_exactly_and_serde_is_a_list_of_pairs() {
        let exact = grid(0, 200, |_| 3.25, &[]);
        let mut p = Points::from(exact.clone());
        p.compact(P);
        assert_eq!(p.to_vec(), exact);
        let json = serde_json::to_string(&p).expect("encode");
        assert_eq!(json, serde_json::to_string(&exact).expect("encode"));
        let back: Points = serde_json::from_str(&json).expect("decode");
        assert_eq!(back, p);
    }

    #[test]
    fn merge_appends_replaces_overlap_and_keeps_order() {
        type Pairs = &'static [(i64, f64)];
        let cases: &[(Pairs, Pairs, Pairs)] = &[
            // Appended after the last cached point.
            (&[(0, 1.0), (300, 2.0)], &[(600, 3.0)], &[(0, 1.0), (300, 2.0), (600, 3.0)]),
            // The overlap replaces cached values (late data), the rest is new.
            (
                &[(0, 1.0), (300, 2.0)],
                &[(300, 2.5), (600, 3.0)],
                &[(0, 1.0), (300, 2.5), (600, 3.0)],
            ),
            // A gap filled inside the cached range.
            (&[(0, 1.0), (600, 3.0)], &[(300, 2.0)], &[(0, 1.0), (300, 2.0), (600, 3.0)]),
            // Nothing fetched, nothing cached.
            (&[(0, 1.0)], &[], &[(0, 1.0)]),
            (&[], &[(0, 1.0)], &[(0, 1.0)]),
        ];
        for (cached, fetched, want) in cases {
            let mut v = cached.to_vec();
            merge_sorted(&mut v, fetched);
            assert_eq!(&v, want, "{cached:?} + {fetched:?}");
            let mut p = Points::from(cached.to_vec());
            p.merge(fetched);
            assert_eq!(p.to_vec(), *want, "{cached:?} + {fetched:?} through Points");
        }
    }
}
