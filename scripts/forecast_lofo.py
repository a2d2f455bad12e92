#!/usr/bin/env python3
"""Leave-one-folder-out evaluation of headroom's forecast engine (issue 19), for
scripts/bench-forecast.

    forecast_lofo.py --bin HEADROOM --data DIR --bench DIR --work DIR [--naive SN.csv] [--json OUT]

Runs `headroom forecast --backtest` once per candidate setting of the engine's tunable
parameters (CANDIDATES below), scores every run with the benchmark's own scorer, then:

- in-sample: the candidate with the best objective over all four folders (what tuning on the
  whole dev set would choose);
- leave-one-folder-out: for each folder, the candidate with the best objective on the other
  three, scored on that folder alone; the folder's series keep those scores.

Objective (lower is better): the mean MASE of the series, plus 2 × the mean over folders of
|cov80 − 0.80| + |cov95 − 0.95| (5 points of coverage error weigh as 0.1 of MASE; per folder,
so a folder that is off is not hidden by another that is off the other way).

Prints a markdown section (stdout); --json writes the figures. With --naive (the
statsforecast SeasonalNaive predictions of the same run), also each series' MASE against
seasonal naive's, and the five worst.
"""
import argparse
import json
import os
import subprocess
import sys
import time

# Each candidate: the engine's defaults plus these overrides (`--param key=value`): every
# tunable knob moved once each way by a moderate step. Leave-one-folder-out chooses among them.
CANDIDATES = [
    [],
    ["interval_scale=1", "interval_scale95=1"],
    ["interval_scale=1.15", "interval_scale95=1.4"],
    ["relative=0.03"],
    ["relative=0.3"],
    ["folds=3"],
    ["folds=6"],
    ["fold_decay=1"],
    ["fold_decay=0.7"],
    ["fold_window_days=4"],
    ["fold_window_days=14"],
    ["step_window=0.05"],
    ["step_window=0.25"],
    ["snaive_weight=0.05"],
    ["snaive_weight=0.3"],
    ["select_margin=0"],
    ["select_margin=0.2"],
    ["outlier_mads=4"],
    ["outlier_mads=9"],
    ["trend_days=0.5"],
    ["trend_days=2"],
    ["shift_widen=1"],
    ["shift_widen=1.5"],
]

# Ablations: one part of the engine switched off, scored in-sample beside the defaults (what each
# part is worth), not offered to the choice.
ABLATIONS = [
    ["select=0"],
    ["shift_guard=0"],
    ["relative=0"],
    ["snaive_weight=0"],
    ["outlier_mads=0"],
    ["select=0", "shift_guard=0", "relative=0", "folds=3", "fold_decay=1", "fold_window_days=28",
     "interval_scale=1.15", "interval_scale95=1.4"],
]


def objective(per, folders):
    rows = per[per["folder"].isin(folders)]
    g = rows.groupby("folder")[["cov80", "cov95"]].mean()
    cov = ((g["cov80"] - 0.80).abs() + (g["cov95"] - 0.95).abs()).mean()
    return rows["mase"].mean() + 2.0 * cov


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--bench", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--naive", default=None)
    ap.add_argument("--baseline", default=None, help="statsforecast MSTL_ETS_day predictions of the same run")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    sys.path.insert(0, a.bench)
    import forecast_score as fs

    ds = fs.load_dataset(a.data)
    t0 = time.time()

    def backtest(what, k, total, cand):
        out = os.path.join(a.work, f"{what}{k}.csv")
        args = [a.bin, "forecast", "--backtest", a.data, "--out", out]
        for kv in cand:
            args += ["--param", kv]
        subprocess.run(args, check=True, capture_output=True, text=True)
        per, _ = fs.aggregate(fs.score(ds, fs.read_predictions(out, ds)))
        print(f"forecast_lofo: {what} {k + 1}/{total} {' '.join(cand) or '(defaults)'}: "
              f"objective {objective(per, per['folder'].unique()):.4f}", file=sys.stderr)
        return per.set_index("series")

    runs = [backtest("candidate", k, len(CANDIDATES), c) for k, c in enumerate(CANDIDATES)]
    abl = [backtest("ablation", k, len(ABLATIONS), c) for k, c in enumerate(ABLATIONS)]
    folders = sorted(runs[0]["folder"].unique())
    name = lambda k: " ".join(CANDIDATES[k]) or "defaults"

    ins = min(range(len(runs)), key=lambda k: objective(runs[k], folders))
    chosen = {}
    for f in folders:
        rest = [x for x in folders if x != f]
        chosen[f] = min(range(len(runs)), key=lambda k: objective(runs[k], rest))
    lofo = runs[0].copy()
    for f in folders:
        idx = lofo["folder"] == f
        lofo.loc[idx, ["smape", "mase", "cov80", "cov95"]] = runs[chosen[f]].loc[idx, ["smape", "mase", "cov80", "cov95"]]
    default = runs[0]

    def summary(per):
        return {"mase": per["mase"].mean(), "mase_median": per["mase"].median(),
                "cov80": per["cov80"].mean(), "cov95": per["cov95"].mean()}

    def by_folder(per):
        g = per.groupby("folder")
        return {f: {"n": int(len(v)), "mase": v["mase"].mean(), "cov80": v["cov80"].mean(),
                    "cov95": v["cov95"].mean()} for f, v in g}

    res = {"candidates": [name(k) for k in range(len(runs))], "in_sample_choice": name(ins),
           "lofo_choice": {f: name(k) for f, k in chosen.items()},
           "defaults": {"summary": summary(default), "folders": by_folder(default)},
           "in_sample": {"summary": summary(runs[ins]), "folders": by_folder(runs[ins])},
           "lofo": {"summary": summary(lofo), "folders": by_folder(lofo)},
           "seconds": time.time() - t0}
    naive = None
    if a.naive:
        sn, _ = fs.aggregate(fs.score(ds, fs.read_predictions(a.naive, ds)))
        naive = sn.set_index("series")["mase"]
        ratio = (lofo["mase"] / naive).sort_values(ascending=False)
        res["worst_vs_naive"] = [{"series": s, "folder": lofo.loc[s, "folder"], "mase": lofo.loc[s, "mase"],
                                  "naive_mase": naive[s], "ratio": r} for s, r in ratio.head(5).items()]
        res["max_ratio"] = float(ratio.max())

    print("### Leave-one-folder-out (issue 19)")
    print()
    print(f"{len(CANDIDATES)} candidate settings of the engine's tunable parameters (the defaults, and each knob "
          "moved once each way by a moderate step; `scripts/forecast_lofo.py`), each run through the whole dev "
          "set and scored by `forecast_score.py`. Objective: MASE mean + 2 × the mean over folders of "
          "|cov80 − 0.80| + |cov95 − 0.95|. *In-sample*: the best candidate on all four folders. "
          "*Leave-one-folder-out*: each folder scored with the candidate that is best on the other three. "
          f"({res['seconds']:.0f} s)")
    print()
    print(f"- in-sample choice: `{name(ins)}`")
    for f in folders:
        print(f"- chosen without {f}: `{name(chosen[f])}`")
    print()
    print("| folder (series) | defaults: MASE / cov80 / cov95 | in-sample | leave-one-folder-out |")
    print("|---|---|---|---|")
    fmt = lambda d: f"{d['mase']:.3f} / {100 * d['cov80']:.1f} % / {100 * d['cov95']:.1f} %"
    for f in folders:
        print(f"| {f} ({res['lofo']['folders'][f]['n']}) | {fmt(res['defaults']['folders'][f])} | "
              f"{fmt(res['in_sample']['folders'][f])} | {fmt(res['lofo']['folders'][f])} |")
    print(f"| all ({len(default)}) | {fmt(res['defaults']['summary'])} | {fmt(res['in_sample']['summary'])} | "
          f"{fmt(res['lofo']['summary'])} |")
    print()
    print("Ablations, in-sample (one part switched off; the last row switches off every part this issue added "
          "and goes back to the earlier calibration: the model alone, absolute errors of 3 folds of 28-day fits "
          "pooled over the horizon, scaled 1.15 / 1.4). Cells: MASE / cov80 / cov95:")
    print()
    print("| switched off | " + " | ".join(folders) + " | all | objective |")
    print("|---|" + "---|" * (len(folders) + 2))
    for label, per in [("nothing (defaults)", default)] + [(" ".join(c), p) for c, p in zip(ABLATIONS, abl)]:
        cells = [fmt(by_folder(per)[f]) for f in folders]
        label = "all of the above, 3 folds of 28-day fits, scaled 1.15 / 1.4" if label.startswith("select=0 shift_guard=0 relative=0 folds") else label
        print(f"| {label} | " + " | ".join(cells) + f" | {fmt(summary(per))} | {objective(per, folders):.3f} |")
    print()
    res["ablations"] = {" ".join(c): {"summary": summary(p), "folders": by_folder(p)} for c, p in zip(ABLATIONS, abl)}
    if naive is not None:
        print("Worst five series against seasonal naive (leave-one-folder-out MASE ÷ statsforecast "
              "SeasonalNaive's MASE on the same origins):")
        print()
        print("| series | folder | MASE | seasonal naive MASE | ratio |")
        print("|---|---|---:|---:|---:|")
        for w in res["worst_vs_naive"]:
            print(f"| {w['series']} | {w['folder']} | {w['mase']:.3f} | {w['naive_mase']:.3f} | {w['ratio']:.2f} |")
        print()
    if naive is not None:
        ok = lambda c: "met" if c else "**NOT met**"
        print("Targets (issue 19), leave-one-folder-out:")
        if a.baseline:
            bper, bsum = fs.aggregate(fs.score(ds, fs.read_predictions(a.baseline, ds)))
            m, b = res["lofo"]["summary"]["mase"], bsum["mase"]
            print(f"- MASE mean {m:.3f} below statsforecast MSTL_ETS_day's {b:.3f} on the same series: {ok(m < b)}")
        else:
            print("- MASE mean against statsforecast MSTL_ETS_day: not run (HEADROOM_FORECAST_BASELINE=0)")
        worst = []
        for f in folders:
            d = res["lofo"]["folders"][f]
            worst.append(max(abs(d["cov80"] - 0.80), abs(d["cov95"] - 0.95)))
        print(f"- 80 % and 95 % coverage within 5 points of nominal in every folder: largest miss "
              f"{100 * max(worst):.1f} points: {ok(max(worst) <= 0.05)}")
        print(f"- no series with MASE above 1.3 × its seasonal-naive MASE: largest ratio {res['max_ratio']:.2f}: "
              f"{ok(res['max_ratio'] <= 1.3)}")
        print()
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(res, fh, indent=1, default=float)


if __name__ == "__main__":
    main()
