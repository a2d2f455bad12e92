//! `headroom plan --audit`: a plan document's stated figures held against what the model
//! computes from the same inputs. Each stated figure is correct (within its tolerance), off by
//! a percentage, or off by a factor (×2 or more); two stated values for one figure that
//! disagree are also marked inconsistent with each other, and every figure stated in more
//! than one place is listed with its places and whether they agree (a document's sizing
//! table against its cost table). The document's own assumptions (`[[assumption]]`, e.g. the
//! spot discount it states) replace the price table's for the audit, so a claim is held
//! against what the document assumed, not against pricing.toml.
//!
//! Pure. May use: model::plan, model::units.

use super::plan::{Figure, Plan};
use super::units::{Kind, Num, parse};
use serde::Serialize;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{file}: {section}[{index}] ({figure}): {problem}")]
pub struct AuditError {
    pub file: String,
    /// `stated` or `assumption`: the array the entry is in.
    pub section: &'static str,
    pub index: usize,
    pub figure: String,
    pub problem: String,
}

/// One figure as a document states it.
#[derive(Clone, Debug, PartialEq)]
pub struct Stated {
    pub figure: String,
    pub text: String,
    pub location: String,
    pub quote: String,
    pub tolerance: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Verdict {
    Correct,
    /// Off by this relative error (stated ÷ computed − 1), beyond tolerance but under ×2.
    Off(f64),
    /// Off by this factor (stated ÷ computed), ×2 or more either way.
    Factor(f64),
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    pub figure: String,
    pub location: String,
    pub quote: String,
    pub stated: f64,
    pub computed: f64,
    pub unit: String,
    pub stated_shown: f64,
    pub computed_shown: f64,
    pub verdict: Verdict,
    /// Locations of other stated values for the same figure that disagree with this one.
    pub inconsistent_with: Vec<String>,
    pub formula: String,
}

impl Finding {
    pub fn wrong(&self) -> bool {
        self.verdict != Verdict::Correct
    }
    pub fn describe(&self) -> String {
        let v = match &self.verdict {
            Verdict::Correct => "correct".to_string(),
            Verdict::Off(e) => format!("off by {:+.1} %", e * 100.0),
            Verdict::Factor(f) if *f >= 1.0 => format!("off by a factor of {} (too high)", Num(*f)),
            Verdict::Factor(f) => format!("off by a factor of {} (too low)", Num(1.0 / f)),
        };
        if self.inconsistent_with.is_empty() {
            v
        } else {
            format!("{v}; inconsistent with {}", self.inconsistent_with.join(", "))
        }
    }
}

/// An input the document itself states (e.g. `spot_discount = 70 %`), used for its audit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assumption {
    pub input: String,
    #[serde(skip)]
    pub value: toml::Value,
    pub shown: String,
    pub location: String,
    pub quote: String,
}

/// An audit file: its profile, the document's assumptions and its stated figures.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFile {
    pub profile: Option<String>,
    pub assumptions: Vec<Assumption>,
    pub stated: Vec<Stated>,
}

/// A figure stated in more than one place: each place's value (shown in the figure's unit),
/// and whether they all agree within their tolerances.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Repeated {
    pub figure: String,
    pub unit: String,
    pub places: Vec<(String, f64)>,
    pub consistent: bool,
}

/// Reads an audit file: `profile = "NAME.toml"`, `[[assumption]]` entries with `input`,
/// `value`, `where` and `quote`, and `[[stated]]` entries with `figure`, `value` (a number
/// or a quantity with unit), `where`, `quote` and optional `tolerance`.
pub fn parse_file(file: &str, body: &str) -> Result<AuditFile, AuditError> {
    let err = |index, figure: &str, problem: String| AuditError {
        file: file.to_string(),
        section: "stated",
        index,
        figure: figure.to_string(),
        problem,
    };
    let t: toml::Table = body
        .parse()
        .map_err(|e: toml::de::Error| err(0, "-", format!("not valid TOML: {}", e.message())))?;
    let profile = t.get("profile").and_then(|v| v.as_str()).map(String::from);
    let mut assumptions = Vec::new();
    for (i, a) in t.get("assumption").and_then(|v| v.as_array()).into_iter().flatten().enumerate() {
        let aerr = |figure: &str, problem: &str| AuditError {
            section: "assumption",
            ..err(i, figure, problem.to_string())
        };
        let at = a.as_table().ok_or_else(|| aerr("-", "expected a table"))?;
        let input = at
            .get("input")
            .and_then(|v| v.as_str())
            .ok_or_else(|| aerr("-", "missing input (a plan input such as spot_discount)"))?;
        let value = at
            .get("value")
            .cloned()
            .ok_or_else(|| aerr(input, "missing value (a number, or a quoted quantity such as \"70 %\")"))?;
        let shown = match &value {
            toml::Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        assumptions.push(Assumption {
            input: input.to_string(),
            value,
            shown,
            location: at.get("where").and_then(|v| v.as_str()).unwrap_or("").to_string(),
            quote: at.get("quote").and_then(|v| v.as_str()).unwrap_or("").to_string(),
        });
    }
    let mut out = Vec::new();
    for (i, s) in t.get("stated").and_then(|v| v.as_array()).into_iter().flatten().enumerate() {
        let st = s.as_table().ok_or_else(|| err(i, "-", "expected a table".into()))?;
        let figure = st
            .get("figure")
            .and_then(|v| v.as_str())
            .ok_or_else(|| err(i, "-", "missing figure".into()))?
            .to_string();
        let text = match st.get("value") {
            Some(toml::Value::Integer(n)) => n.to_string(),
            Some(toml::Value::Float(f)) => f.to_string(),
            Some(toml::Value::String(s)) => s.clone(),
            _ => {
                return Err(err(
                    i,
                    &figure,
                    "missing value (a number, or a quoted quantity such as \"1.67 MB/s\")".into(),
                ));
            }
        };
        let tolerance = match st.get("tolerance") {
            None => 0.05,
            Some(toml::Value::String(s)) => parse(s, Kind::Share, "").map_err(|e| err(i, &figure, format!("tolerance: {e}")))?,
            Some(toml::Value::Float(f)) if (0.0..1.0).contains(f) => *f,
            Some(_) => return Err(err(i, &figure, "tolerance is a share such as \"5 %\"".into())),
        };
        out.push(Stated {
            figure,
            text,
            location: st.get("where").and_then(|v| v.as_str()).unwrap_or("").to_string(),
            quote: st.get("quote").and_then(|v| v.as_str()).unwrap_or("").to_string(),
            tolerance,
        });
    }
    Ok(AuditFile {
        profile,
        assumptions,
        stated: out,
    })
}

/// The figures stated in more than one place, in the order first stated.
pub fn repeated(findings: &[Finding]) -> Vec<Repeated> {
    let mut out: Vec<Repeated> = Vec::new();
    for f in findings {
        if findings.iter().filter(|g| g.figure == f.figure).count() < 2 {
            continue;
        }
        match out.iter_mut().find(|r| r.figure == f.figure) {
            Some(r) => {
                r.places.push((f.location.clone(), f.stated_shown));
                r.consistent &= f.inconsistent_with.is_empty();
            }
            None => out.push(Repeated {
                figure: f.figure.clone(),
                unit: f.unit.clone(),
                places: vec![(f.location.clone(), f.stated_shown)],
                consistent: f.inconsistent_with.is_empty(),
            }),
        }
    }
    out
}

fn unit_of(f: &Figure) -> &str {
    match f.kind {
        Kind::Size => "KB",
        Kind::ByteRate => "KB/s",
        Kind::BitRate => "Gbit/s",
        Kind::ReqRate => "req/s",
        Kind::Duration => "s",
        Kind::Money => "$",
        _ => "",
    }
}

/// Checks every stated figure against the plan. Unknown figure names and unreadable values
/// are errors (the audit file is wrong, not the document).
pub fn audit(file: &str, plan: &Plan, stated: &[Stated]) -> Result<Vec<Finding>, AuditError> {
    let mut out = Vec::new();
    for (i, s) in stated.iter().enumerate() {
        let f = plan.figure(&s.figure).ok_or_else(|| AuditError {
            file: file.to_string(),
            section: "stated",
            index: i,
            figure: s.figure.clone(),
            problem: format!(
                "the plan has no figure `{}` (run `headroom plan --profile ...` to list them)",
                s.figure
            ),
        })?;
        let v = parse(&s.text, f.kind, unit_of(f)).map_err(|e| AuditError {
            file: file.to_string(),
            section: "stated",
            index: i,
            figure: s.figure.clone(),
            problem: e,
        })?;
        let ratio = if f.value == 0.0 {
            if v == 0.0 { 1.0 } else { f64::INFINITY }
        } else {
            v / f.value
        };
        let verdict = if (ratio - 1.0).abs() <= s.tolerance {
            Verdict::Correct
        } else if !(0.5..2.0).contains(&ratio) {
            Verdict::Factor(ratio)
        } else {
            Verdict::Off(ratio - 1.0)
        };
        let div = if f.value != 0.0 { f.value / f.shown } else { 1.0 };
        out.push(Finding {
            figure: s.figure.clone(),
            location: s.location.clone(),
            quote: s.quote.clone(),
            stated: v,
            computed: f.value,
            unit: f.unit.clone(),
            stated_shown: v / div,
            computed_shown: f.shown,
            verdict,
            inconsistent_with: vec![],
            formula: f.formula.clone(),
        });
    }
    // Two stated values for one figure that differ beyond the tolerance cannot both hold.
    for i in 0..out.len() {
        for j in 0..out.len() {
            if i != j && out[i].figure == out[j].figure {
                let (a, b) = (out[i].stated, out[j].stated);
                let tol = stated[i].tolerance.max(stated[j].tolerance);
                if (a - b).abs() > tol * a.abs().max(b.abs()) {
                    let loc = out[j].location.clone();
                    out[i].inconsistent_with.push(loc);
                }
            }
        }
    }
    Ok(out)
}
