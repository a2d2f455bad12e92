//! Stage one of config loading: walk a parsed TOML table key by key, collecting every problem
//! (unknown key, wrong type, out of range, missing) with its file and key path instead of
//! stopping at the first. serde's `deny_unknown_fields` stops at the first error of a file;
//! an operator fixing a config wants the whole list, so this small reader replaces it.
//!
//! May use: toml values only. Knows nothing of what the keys mean: `config/mod.rs` does.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

/// One config problem: `file: key.path: problem (hint)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub key: String,
    pub problem: String,
    pub hint: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = if self.key.is_empty() { "(top)" } else { &self.key };
        if self.hint.is_empty() {
            write!(f, "{}: {}: {}", self.file, key, self.problem)
        } else {
            write!(f, "{}: {}: {} ({})", self.file, key, self.problem, self.hint)
        }
    }
}

/// Where problems of one load accumulate.
#[derive(Default)]
pub struct Diag {
    pub problems: RefCell<Vec<Problem>>,
}

impl Diag {
    pub fn push(&self, file: &str, key: &str, problem: impl Into<String>, hint: impl Into<String>) {
        self.problems.borrow_mut().push(Problem {
            file: file.to_string(),
            key: key.to_string(),
            problem: problem.into(),
            hint: hint.into(),
        });
    }
    pub fn into_vec(self) -> Vec<Problem> {
        self.problems.into_inner()
    }
    pub fn is_empty(&self) -> bool {
        self.problems.borrow().is_empty()
    }
}

/// A TOML table being read; records which keys were used so the rest are reported unknown.
pub struct Tbl<'a> {
    pub diag: &'a Diag,
    pub file: &'a str,
    pub path: String,
    pub t: &'a toml::Table,
    used: RefCell<BTreeSet<String>>,
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a number",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

impl<'a> Tbl<'a> {
    pub fn root(diag: &'a Diag, file: &'a str, t: &'a toml::Table) -> Self {
        Tbl {
            diag,
            file,
            path: String::new(),
            t,
            used: RefCell::new(BTreeSet::new()),
        }
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    pub fn problem(&self, key: &str, problem: impl Into<String>, hint: impl Into<String>) {
        self.diag.push(self.file, &self.key_path(key), problem, hint);
    }

    fn raw(&self, key: &str) -> Option<&'a toml::Value> {
        self.used.borrow_mut().insert(key.to_string());
        self.t.get(key)
    }

    /// Marks a key as read without checking it (the caller reads it another way).
    pub fn touch(&self, key: &str) {
        self.used.borrow_mut().insert(key.to_string());
    }

    pub fn has(&self, key: &str) -> bool {
        self.t.contains_key(key)
    }

    fn wrong_type(&self, key: &str, want: &str, got: &toml::Value, example: &str) {
        self.problem(
            key,
            format!("expected {want}, found {}", type_name(got)),
            format!("e.g. {key} = {example}"),
        );
    }

    pub fn missing(&self, key: &str, example: &str) {
        self.problem(key, "missing required key", format!("add {key} = {example}"));
    }

    pub fn str(&self, key: &str) -> Option<String> {
        match self.raw(key)? {
            toml::Value::String(s) => Some(s.clone()),
            other => {
                self.wrong_type(key, "a string", other, "\"...\"");
                None
            }
        }
    }

    pub fn req_str(&self, key: &str, example: &str) -> Option<String> {
        if !self.has(key) {
            self.raw(key);
            self.missing(key, example);
            return None;
        }
        self.str(key)
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.raw(key)? {
            toml::Value::Boolean(b) => Some(*b),
            other => {
                self.wrong_type(key, "true or false", other, "true");
                None
            }
        }
    }

    /// An integer in [min, max].
    pub fn int(&self, key: &str, min: i64, max: i64) -> Option<i64> {
        match self.raw(key)? {
            toml::Value::Integer(i) if *i >= min && *i <= max => Some(*i),
            toml::Value::Integer(i) => {
                self.problem(
                    key,
                    format!("{i} is out of range"),
                    format!("use a whole number from {min} to {max}"),
                );
                None
            }
            other => {
                self.wrong_type(key, "a whole number", other, &min.max(1).to_string());
                None
            }
        }
    }

    pub fn req_int(&self, key: &str, min: i64, max: i64) -> Option<i64> {
        if !self.has(key) {
            self.raw(key);
            self.missing(key, &min.max(1).to_string());
            return None;
        }
        self.int(key, min, max)
    }

    /// A number (integer or float) in [min, max].
    pub fn num(&self, key: &str, min: f64, max: f64) -> Option<f64> {
        let v = match self.raw(key)? {
            toml::Value::Integer(i) => *i as f64,
            toml::Value::Float(f) => *f,
            other => {
                self.wrong_type(key, "a number", other, &format!("{}", min.max(1.0)));
                return None;
            }
        };
        if !v.is_finite() || v < min || v > max {
            self.problem(key, format!("{v} is out of range"), format!("use a number from {min} to {max}"));
            return None;
        }
        Some(v)
    }

    pub fn req_num(&self, key: &str, min: f64, max: f64) -> Option<f64> {
        if !self.has(key) {
            self.raw(key);
            self.missing(key, &format!("{}", min.max(1.0)));
            return None;
        }
        self.num(key, min, max)
    }

    pub fn str_list(&self, key: &str) -> Option<Vec<String>> {
        match self.raw(key)? {
            toml::Value::Array(a) => {
                let mut out = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    match v {
                        toml::Value::String(s) => out.push(s.clone()),
                        other => self.problem(
                            &format!("{key}[{i}]"),
                            format!("expected a string, found {}", type_name(other)),
                            "list items are quoted strings",
                        ),
                    }
                }
                Some(out)
            }
            other => {
                self.wrong_type(key, "a list of strings", other, "[\"...\"]");
                None
            }
        }
    }

    /// A `[min, max]` pair of numbers with min < max.
    pub fn range(&self, key: &str) -> Option<(f64, f64)> {
        match self.raw(key)? {
            toml::Value::Array(a) if a.len() == 2 => {
                // The upper bound may be `inf` (an open-ended top tier).
                let n = |v: &toml::Value| match v {
                    toml::Value::Integer(i) => Some(*i as f64),
                    toml::Value::Float(f) if !f.is_nan() => Some(*f),
                    _ => None,
                };
                match (n(&a[0]), n(&a[1])) {
                    (Some(lo), Some(hi)) if lo.is_finite() && lo >= 0.0 && lo < hi => Some((lo, hi)),
                    (Some(lo), Some(hi)) => {
                        self.problem(
                            key,
                            format!("[{lo}, {hi}] is not a range"),
                            "write [lower, upper] with 0 <= lower < upper",
                        );
                        None
                    }
                    _ => {
                        self.problem(key, "expected two numbers", "e.g. [0, 500]");
                        None
                    }
                }
            }
            other => {
                self.wrong_type(key, "a [lower, upper] pair", other, "[0, 500]");
                None
            }
        }
    }

    pub fn sub(&self, key: &str) -> Option<Tbl<'a>> {
        match self.raw(key)? {
            toml::Value::Table(t) => Some(Tbl {
                diag: self.diag,
                file: self.file,
                path: self.key_path(key),
                t,
                used: RefCell::new(BTreeSet::new()),
            }),
            other => {
                self.problem(
                    key,
                    format!("expected a table, found {}", type_name(other)),
                    format!("write it as [{}]", self.key_path(key)),
                );
                None
            }
        }
    }

    /// `[[key]]` entries (an array of tables).
    pub fn tables(&self, key: &str) -> Vec<Tbl<'a>> {
        match self.raw(key) {
            None => vec![],
            Some(toml::Value::Array(a)) => a
                .iter()
                .enumerate()
                .filter_map(|(i, v)| match v {
                    toml::Value::Table(t) => Some(Tbl {
                        diag: self.diag,
                        file: self.file,
                        path: format!("{}[{i}]", self.key_path(key)),
                        t,
                        used: RefCell::new(BTreeSet::new()),
                    }),
                    other => {
                        self.problem(
                            &format!("{key}[{i}]"),
                            format!("expected a table, found {}", type_name(other)),
                            format!("write entries as [[{}]]", self.key_path(key)),
                        );
                        None
                    }
                })
                .collect(),
            Some(other) => {
                self.problem(
                    key,
                    format!("expected a list of tables, found {}", type_name(other)),
                    format!("write entries as [[{}]]", self.key_path(key)),
                );
                vec![]
            }
        }
    }

    /// Entries of a table whose keys are names (`[instance."t3.medium"]`), in key order.
    pub fn named(&self, key: &str) -> Vec<(String, Tbl<'a>)> {
        let Some(t) = self.sub(key) else { return vec![] };
        let mut out = Vec::new();
        for (name, v) in t.t.iter() {
            t.used.borrow_mut().insert(name.clone());
            match v {
                toml::Value::Table(inner) => out.push((
                    name.clone(),
                    Tbl {
                        diag: self.diag,
                        file: self.file,
                        path: format!("{}.\"{name}\"", t.path),
                        t: inner,
                        used: RefCell::new(BTreeSet::new()),
                    },
                )),
                other => t.problem(
                    name,
                    format!("expected a table, found {}", type_name(other)),
                    format!("write it as [{}.\"{name}\"]", t.path),
                ),
            }
        }
        out
    }

    /// Reports every key that was never read as unknown, listing the keys this table takes.
    pub fn done(&self) {
        let used = self.used.borrow();
        for k in self.t.keys() {
            if !used.contains(k) {
                let mut known: Vec<&str> = used.iter().map(|s| s.as_str()).collect();
                known.sort();
                let hint = match closest(k, &known) {
                    Some(c) => format!("did you mean `{c}`? known keys: {}", known.join(", ")),
                    None => format!("known keys: {}", known.join(", ")),
                };
                self.problem(k, "unknown key", hint);
            }
        }
    }
}

/// The known key nearest to a misspelt one (edit distance ≤ 2), for "did you mean".
fn closest<'k>(k: &str, known: &[&'k str]) -> Option<&'k str> {
    known
        .iter()
        .map(|c| (edit_distance(k, c), *c))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = if a[i - 1] == b[j - 1] { 0 } else { 1 };
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Parses `30s`, `10m`, `2h`, `1d` into seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (n, unit) = s.split_at(split);
    let n: u64 = n.parse().ok()?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}
