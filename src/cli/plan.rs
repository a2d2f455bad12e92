//! `headroom plan`: read a profile and `--set` inputs, print every derived figure with its
//! formula and inputs (or `--json`), and with `--audit` hold a document's stated figures
//! against them. Exit 1 when an audited figure is off beyond its tolerance, 2 on bad input.

use crate::config::Config;
use crate::model::audit::{self, Assumption, Finding, Repeated};
use crate::model::plan::{self, Inputs, Plan, Profile};
use crate::model::units::Num;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub struct Args {
    pub profile: Option<PathBuf>,
    pub set: Vec<String>,
    pub json: bool,
    pub audit: Option<PathBuf>,
    pub list_inputs: bool,
}

fn fail(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {msg}");
    ExitCode::from(2)
}

pub fn run(cfg: &Config, args: Args) -> ExitCode {
    if args.list_inputs {
        let docs = plan::input_docs();
        if args.json {
            println!("{}", serde_json::to_string(&docs).unwrap_or_default());
            return ExitCode::SUCCESS;
        }
        for (group, title) in [
            ("input", "Inputs"),
            (
                "given figure",
                "Given figures (a figure you know: used as given downstream, shown \"given\" with what its inputs give)",
            ),
            ("assumption", "Purchase assumptions (per plan; default pricing.toml)"),
            ("text", "Text inputs"),
        ] {
            println!("{title}");
            println!("  {:<28} {:<30} {:<30} meaning", "key", "unit", "default");
            for d in docs.iter().filter(|d| d.group == group) {
                println!("  {:<28} {:<30} {:<30} {}", d.key, d.unit, d.default, d.doc);
            }
            println!();
        }
        return ExitCode::SUCCESS;
    }
    // The audit file names its profile, relative to itself, unless --profile is given.
    let mut stated = None;
    let mut assumptions = vec![];
    let mut profile_path = args.profile.clone();
    if let Some(a) = &args.audit {
        let body = match crate::files::read_text(a, crate::files::Kind::Profile) {
            Ok(b) => b,
            Err(e) => return fail(format!("cannot read audit file {}: {e}", a.display())),
        };
        match audit::parse_file(&a.display().to_string(), &body) {
            Ok(f) => {
                if profile_path.is_none() {
                    profile_path = f.profile.map(|p| a.parent().unwrap_or(Path::new(".")).join(p));
                }
                stated = Some(f.stated);
                assumptions = f.assumptions;
            }
            Err(e) => return fail(e),
        }
    }
    let mut profile = match &profile_path {
        Some(p) => match crate::files::read_text(p, crate::files::Kind::Profile) {
            Ok(body) => match Profile::parse(&p.display().to_string(), &body, cfg) {
                Ok(pr) => pr,
                Err(e) => return fail(format!("{e} (see `headroom plan --list-inputs`)")),
            },
            Err(e) => {
                return fail(format!(
                    "cannot read profile {}: {e} (the seed profiles are in config/profiles/)",
                    p.display()
                ));
            }
        },
        None => Profile {
            name: "ad hoc".into(),
            source: "--set".into(),
            ..Default::default()
        },
    };
    // The document's own assumptions, then --set over them: to the base and every scenario.
    let audit_name = args.audit.as_ref().map(|a| a.display().to_string()).unwrap_or_default();
    for a in &assumptions {
        let src = format!("{audit_name}: assumption {} ({})", a.input, a.location);
        let all = std::iter::once(&mut profile.inputs).chain(profile.scenarios.iter_mut().map(|s| &mut s.inputs));
        for inputs in all {
            if let Err(e) = inputs.set(&src, &a.input, &a.value, &cfg.pricing) {
                return fail(format!("{e} (see `headroom plan --list-inputs`)"));
            }
        }
    }
    for s in &args.set {
        let mut inputs: Inputs = profile.inputs.clone();
        if let Err(e) = inputs.set_flag(s, &cfg.pricing) {
            return fail(format!("{e} (see `headroom plan --list-inputs`)"));
        }
        profile.inputs = inputs;
        // A --set applies to every scenario too.
        for sc in &mut profile.scenarios {
            if let Err(e) = sc.inputs.set_flag(s, &cfg.pricing) {
                return fail(e);
            }
        }
    }
    if profile_path.is_none() && args.set.is_empty() {
        return fail("nothing to plan: give --profile FILE (e.g. config/profiles/clearview.toml) or --set key=value (see --list-inputs)");
    }
    let p = match plan::plan(&profile, cfg) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    match (stated, &args.audit) {
        (Some(stated), Some(file)) => {
            let findings = match audit::audit(&file.display().to_string(), &p, &stated) {
                Ok(f) => f,
                Err(e) => return fail(e),
            };
            let repeated = audit::repeated(&findings);
            if args.json {
                println!(
                    "{}",
                    serde_json::json!({
                        "profile": p.profile,
                        "source": p.source,
                        "assumptions": assumptions,
                        "findings": findings,
                        "repeated": repeated,
                    })
                );
            } else {
                print_audit(&p, cfg, &assumptions, &findings, &repeated);
            }
            if findings.iter().any(Finding::wrong) || repeated.iter().any(|r| !r.consistent) {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        _ => {
            if args.json {
                println!("{}", serde_json::to_string(&p).unwrap_or_default());
            } else {
                print_plan(&p, cfg);
            }
            ExitCode::SUCCESS
        }
    }
}

fn print_plan(p: &Plan, cfg: &Config) {
    println!("Plan: {} ({})", p.profile, p.source);
    println!(
        "Prices: pricing.toml, {} as of {}; a month is 730 hours.",
        cfg.pricing.region, cfg.pricing.as_of
    );
    let mut section = String::new();
    for f in &p.figures {
        let sec = f.name.split_once('.').map(|(a, _)| a.to_string()).unwrap_or_default();
        if sec != section {
            println!();
            println!(
                "{}",
                if sec.is_empty() {
                    "Figures".to_string()
                } else {
                    format!("Figures: {sec}")
                }
            );
            section = sec;
        }
        let ins: Vec<String> = f
            .inputs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k} {v}"))
            .collect();
        println!(
            "  {:<44} {:>14} {:<10} = {}{}",
            f.name,
            Num(f.shown).to_string(),
            f.unit,
            f.formula,
            if ins.is_empty() {
                String::new()
            } else {
                format!("  [{}]", ins.join(", "))
            }
        );
    }
    for t in &p.tiers {
        println!();
        println!(
            "Tier ({}): {} concurrent users -> {} [{}, {})",
            t.scenario,
            Num(t.users),
            t.tier,
            Num(t.range.0),
            if t.range.1.is_finite() {
                Num(t.range.1).to_string()
            } else {
                "no upper bound".into()
            }
        );
        for b in &t.bundle {
            println!("  node group {b}");
        }
        println!("  nodes' monthly cost at min and max size, by purchase option:");
        for (name, lo, hi) in &t.monthly_by_option {
            println!("    {:<52} ${:>10} - ${:>10}", name, Num(*lo).to_string(), Num(*hi).to_string());
        }
        match (&t.next_tier, t.months_to_next) {
            (Some(n), Some(m)) => println!("  next tier: {n}, reached in {m} month(s) at the profile's growth"),
            (Some(n), None) => println!("  next tier: {n} (give growth_monthly to see when)"),
            _ => println!("  top tier"),
        }
        if !t.migration_steps.is_empty() && t.next_tier.is_some() {
            println!("  migration steps to {}:", t.next_tier.as_deref().unwrap_or(""));
            for (i, s) in t.migration_steps.iter().enumerate() {
                println!("    {}. {s}", i + 1);
            }
        }
    }
    for n in &p.notes {
        println!("note: {n}");
    }
}

fn print_audit(p: &Plan, cfg: &Config, assumptions: &[Assumption], findings: &[Finding], repeated: &[Repeated]) {
    println!("Audit of {} ({}): {} stated figure(s)", p.profile, p.source, findings.len());
    for a in assumptions {
        println!(
            "Assumed as the document states: {} = {}  [{}: \"{}\"]",
            a.input, a.shown, a.location, a.quote
        );
    }
    println!("Other prices: pricing.toml, {} as of {}.", cfg.pricing.region, cfg.pricing.as_of);
    for f in findings {
        let mark = if f.wrong() { "WRONG" } else { "ok" };
        println!(
            "  {:<5} {:<40} stated {:>12} {:<9} computed {:>12}  {}  [{}]",
            mark,
            f.figure,
            Num(f.stated_shown).to_string(),
            f.unit,
            Num(f.computed_shown).to_string(),
            f.describe(),
            f.location
        );
        if f.wrong() {
            println!("        \"{}\"  -> headroom: {}", f.quote, f.formula);
        }
    }
    if !repeated.is_empty() {
        println!("Stated in more than one place:");
        for r in repeated {
            let places: Vec<String> = r
                .places
                .iter()
                .map(|(loc, v)| format!("{} {} in {loc}", Num(*v), r.unit).replace("  ", " "))
                .collect();
            println!(
                "  {:<5} {:<40} {}",
                if r.consistent { "same" } else { "DIFF" },
                r.figure,
                places.join("; ")
            );
        }
    }
    let wrong = findings.iter().filter(|f| f.wrong()).count();
    let diff = repeated.iter().filter(|r| !r.consistent).count();
    println!(
        "{} correct, {} wrong; {} figure(s) stated in more than one place, {} of them inconsistent",
        findings.len() - wrong,
        wrong,
        repeated.len(),
        diff
    );
}
