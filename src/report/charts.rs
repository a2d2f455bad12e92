//! The review's charts, drawn with plotters: utilization against threshold lines, a forecast
//! with its 80 % band and the crossing marked, spend stacked by service over four weeks, and
//! the dollar impact of open advice. Each is drawn twice from one function: as SVG for the
//! HTML page, and as an RGB bitmap encoded to PNG for email (mail clients do not show SVG).
//! Text on the bitmaps is rasterized from the DejaVu Sans font shipped in `assets/fonts`, so
//! no system font is needed.
//!
//! Pure. May use: the review's chart data, plotters, png.

use super::{ChartData, ForecastChart, UtilChart};
use crate::domain::Ts;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::collections::BTreeMap;

pub const WIDTH: u32 = 720;
pub const HEIGHT: u32 = 300;
const FONT: &str = "sans-serif";
static DEJAVU: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Colours for series and stacks (colour-blind friendly, Okabe–Ito).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(120, 120, 120),
];
const THRESHOLD: RGBColor = RGBColor(200, 30, 30);

fn register_font() {
    static ONCE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        // The font is compiled in; a failure here is a broken build, and only costs the labels.
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU);
    });
}

/// One chart of the review.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    /// Stable id: the HTML's element id and the email's Content-ID stem.
    pub id: String,
    pub title: String,
    /// A sentence saying what the chart shows, for screen readers and the text version.
    pub alt: String,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq)]
enum Kind {
    Utilization(UtilChart),
    Forecast(ForecastChart),
    Spend(Vec<(String, BTreeMap<String, f64>)>),
    Impact(Vec<(String, f64)>),
}

/// The charts the review's data calls for, in page order.
pub fn charts(data: &ChartData, tz: chrono_tz::Tz) -> Vec<Chart> {
    let _ = tz;
    let mut out = vec![];
    for (i, u) in data.utilization.iter().enumerate() {
        out.push(Chart {
            id: format!("utilization-{}", i + 1),
            title: format!("Utilization: {}", u.title),
            alt: format!(
                "Hourly maximum of {} over the week{}",
                u.lines.iter().map(|l| l.0.as_str()).collect::<Vec<_>>().join(" and "),
                if u.thresholds.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", against {}",
                        u.thresholds
                            .iter()
                            .map(|t| format!("{} {}", t.0, t.1))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                }
            ),
            kind: Kind::Utilization(u.clone()),
        });
    }
    for (i, f) in data.forecasts.iter().enumerate() {
        out.push(Chart {
            id: format!("forecast-{}", i + 1),
            title: format!("Forecast: {}", f.title),
            alt: format!(
                "The week's hourly means, the forecast with its 80 % band, and {} at {}",
                f.line.0, f.line.1
            ),
            kind: Kind::Forecast(f.clone()),
        });
    }
    if data.spend.iter().any(|w| !w.1.is_empty()) {
        out.push(Chart {
            id: "spend".into(),
            title: "Spend by service, last four weeks".into(),
            alt: "Weekly spend stacked by service".into(),
            kind: Kind::Spend(data.spend.clone()),
        });
    }
    if !data.impact.is_empty() {
        out.push(Chart {
            id: "impact".into(),
            title: "Monthly dollar impact of open advice".into(),
            alt: "Dollars per month each open advisory changes the bill by (savings left, extra cost right)".into(),
            kind: Kind::Impact(data.impact.clone()),
        });
    }
    out
}

impl Chart {
    /// The chart as an SVG document.
    pub fn svg(&self) -> String {
        register_font();
        let mut s = String::new();
        {
            let root = SVGBackend::with_string(&mut s, (WIDTH, HEIGHT)).into_drawing_area();
            if let Err(e) = self.draw(&root) {
                return failed_svg(&e);
            }
            let _ = root.present();
        }
        s
    }

    /// The chart as a PNG image.
    pub fn png(&self) -> Result<Vec<u8>, String> {
        register_font();
        let mut rgb = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, (WIDTH, HEIGHT)).into_drawing_area();
            self.draw(&root).map_err(|e| format!("chart {}: {e}", self.id))?;
            root.present().map_err(|e| format!("chart {}: {e}", self.id))?;
        }
        let mut out = vec![];
        {
            let mut enc = png::Encoder::new(&mut out, WIDTH, HEIGHT);
            enc.set_color(png::ColorType::Rgb);
            enc.set_depth(png::BitDepth::Eight);
            let mut w = enc.write_header().map_err(|e| format!("chart {}: {e}", self.id))?;
            w.write_image_data(&rgb).map_err(|e| format!("chart {}: {e}", self.id))?;
        }
        Ok(out)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        match &self.kind {
            Kind::Utilization(u) => utilization(root, u).map_err(|e| e.to_string()),
            Kind::Forecast(f) => forecast(root, f).map_err(|e| e.to_string()),
            Kind::Spend(w) => spend(root, w).map_err(|e| e.to_string()),
            Kind::Impact(v) => impact(root, v).map_err(|e| e.to_string()),
        }
    }
}

fn failed_svg(why: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\"><text x=\"10\" y=\"20\">chart not drawn: {}</text></svg>",
        super::render::escape(why)
    )
}

/// The chart's legend, in one style for every chart.
fn legend<'a, DB, CT>(chart: &mut ChartContext<'a, DB, CT>, at: SeriesLabelPosition) -> Drawn<DB>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .label_font((FONT, 11))
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(200, 200, 200))
        .position(at)
        .draw()
}

type Drawn<DB> = Result<(), DrawingAreaErrorKind<<DB as DrawingBackend>::ErrorType>>;

fn day_label(t: &Ts) -> String {
    chrono::DateTime::from_timestamp(*t, 0)
        .map(|d| d.format("%a %d").to_string())
        .unwrap_or_default()
}

fn bounds(values: impl Iterator<Item = f64>, floor_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if floor_zero {
        lo = lo.min(0.0);
    }
    let pad = ((hi - lo) * 0.08).max(1e-9);
    (lo, hi + pad)
}

fn utilization<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, u: &UtilChart) -> Drawn<DB> {
    let (lo, hi) = bounds(
        u.lines
            .iter()
            .flat_map(|l| l.1.iter().map(|p| p.1))
            .chain(u.thresholds.iter().map(|t| t.1)),
        true,
    );
    let mut chart = ChartBuilder::on(root)
        .caption(format!("{} ({})", u.title, u.unit), (FONT, 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(48)
        .build_cartesian_2d(u.from..u.to, lo..hi)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&day_label)
        .label_style((FONT, 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (i, (name, pts)) in u.lines.iter().enumerate() {
        let c = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), c.stroke_width(2)))?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
    }
    for (name, v) in &u.thresholds {
        let v = *v;
        chart
            .draw_series(LineSeries::new(vec![(u.from, v), (u.to, v)], THRESHOLD.stroke_width(1)))?
            .label(name.to_string())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], THRESHOLD.stroke_width(1)));
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)?;
    Ok(())
}

fn forecast<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, f: &ForecastChart) -> Drawn<DB> {
    let from = f.history.first().map(|p| p.0).or(f.point.first().map(|p| p.0)).unwrap_or(0);
    let to = f.point.last().map(|p| p.0).unwrap_or(from + 3_600).max(from + 3_600);
    let (lo, hi) = bounds(
        f.history
            .iter()
            .chain(&f.point)
            .chain(&f.lo80)
            .chain(&f.hi80)
            .map(|p| p.1)
            .chain(std::iter::once(f.line.1)),
        true,
    );
    let mut chart = ChartBuilder::on(root)
        .caption(format!("{} ({})", f.title, f.unit), (FONT, 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(56)
        .build_cartesian_2d(from..to, lo..hi)?;
    chart
        .configure_mesh()
        .x_labels(8)
        .x_label_formatter(&day_label)
        .label_style((FONT, 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    let band: Vec<(Ts, f64)> = f.hi80.iter().copied().chain(f.lo80.iter().rev().copied()).collect();
    if !band.is_empty() {
        chart
            .draw_series(std::iter::once(Polygon::new(band, PALETTE[0].mix(0.2).filled())))?
            .label("80 % interval")
            .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 16, y + 5)], PALETTE[0].mix(0.2).filled()));
    }
    chart
        .draw_series(LineSeries::new(f.history.iter().copied(), RGBColor(60, 60, 60).stroke_width(1)))?
        .label("history (hourly mean)")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RGBColor(60, 60, 60)));
    chart
        .draw_series(LineSeries::new(f.point.iter().copied(), PALETTE[0].stroke_width(2)))?
        .label("forecast")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], PALETTE[0].stroke_width(2)));
    chart
        .draw_series(LineSeries::new(vec![(from, f.line.1), (to, f.line.1)], THRESHOLD.stroke_width(1)))?
        .label(f.line.0.clone())
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], THRESHOLD));
    if let Some(at) = f.crossing {
        chart.draw_series(std::iter::once(Circle::new((at, f.line.1), 6, THRESHOLD.filled())))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("crosses {}", day_label(&at)),
            (at, f.line.1),
            (FONT, 12).into_font().color(&THRESHOLD),
        )))?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

fn spend<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, weeks: &[(String, BTreeMap<String, f64>)]) -> Drawn<DB> {
    // Services by total, largest at the bottom of each stack.
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    for (_, m) in weeks {
        for (s, v) in m {
            *totals.entry(s).or_default() += v;
        }
    }
    let mut services: Vec<(&str, f64)> = totals.into_iter().collect();
    services.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(b.0)));
    let top = (weeks.iter().map(|w| w.1.values().sum::<f64>()).fold(0.0, f64::max) * 1.45).max(1.0);
    let n = weeks.len().max(1) as u32;
    // plotters' segmented range a..b has b − a + 1 segments: 0..n − 1 is n bars.
    let mut chart = ChartBuilder::on(root)
        .caption("Spend by service, last four weeks (USD)", (FONT, 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(64)
        .build_cartesian_2d((0u32..n - 1).into_segmented(), 0f64..top)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n as usize)
        .x_label_formatter(&|x: &SegmentValue<u32>| match x {
            SegmentValue::CenterOf(i) => weeks.get(*i as usize).map(|w| w.0.clone()).unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|y: &f64| format!("${}", super::thousands(*y)))
        .label_style((FONT, 12))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    for (k, (svc, _)) in services.iter().enumerate() {
        let c = PALETTE[k % PALETTE.len()];
        let bars = weeks.iter().enumerate().map(|(i, (_, m))| {
            let below: f64 = services[..k].iter().map(|(s, _)| m.get(*s).copied().unwrap_or(0.0)).sum();
            let v = m.get(*svc).copied().unwrap_or(0.0);
            let mut r = Rectangle::new(
                [
                    (SegmentValue::Exact(i as u32), below),
                    (SegmentValue::Exact(i as u32 + 1), below + v),
                ],
                c.filled(),
            );
            r.set_margin(0, 0, 12, 12);
            r
        });
        chart
            .draw_series(bars)?
            .label(svc.to_string())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    }
    legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    Ok(())
}

fn impact<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, items: &[(String, f64)]) -> Drawn<DB> {
    let (lo, hi) = bounds(items.iter().map(|i| i.1), true);
    let hi = hi.max(0.0);
    let n = items.len().max(1) as u32;
    let label_of = |i: u32| -> String {
        // Largest first, from the top.
        let Some(k) = (n as usize).checked_sub(1 + i as usize) else {
            return String::new();
        };
        items
            .get(k)
            .map(|(l, v)| format!("{} {}", l.chars().take(34).collect::<String>(), dollars(*v)))
            .unwrap_or_default()
    };
    let mut chart = ChartBuilder::on(root)
        .caption("Monthly dollar impact of open advice (USD; negative saves)", (FONT, 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(250)
        .build_cartesian_2d(lo..hi, (0u32..n - 1).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n as usize)
        .y_label_formatter(&|y: &SegmentValue<u32>| match y {
            SegmentValue::CenterOf(i) => label_of(*i),
            _ => String::new(),
        })
        .x_label_formatter(&|x: &f64| dollars(*x))
        .label_style((FONT, 11))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    chart.draw_series(items.iter().enumerate().map(|(k, (_, v))| {
        let i = n.saturating_sub(1 + k as u32);
        let c = if *v < 0.0 { PALETTE[2] } else { PALETTE[5] };
        let mut r = Rectangle::new([(0.0, SegmentValue::Exact(i)), (*v, SegmentValue::Exact(i + 1))], c.filled());
        r.set_margin(3, 3, 0, 0);
        r
    }))?;
    Ok(())
}

/// `−$77` / `$637`.
fn dollars(x: f64) -> String {
    if x < 0.0 {
        format!("−${}", super::thousands(-x))
    } else {
        format!("${}", super::thousands(x))
    }
}
