"""Peer benchmark: the SPSS-parity ITT model in brms vs imr_bayes vs statsmodels REML.

All three run in this one invocation on the default twin, for the 12 outcomes:

1. statsmodels MixedLM REML of ``z ~ time * condition`` with a random participant intercept
   (the baseline of ``bench_itt.py``; no group effect, so its estimate is a reference only);
2. ``imr_bayes.fit(..., analysis="itt_parity")`` (the SPSS-parity model, the one brms
   mirrors) with the spec's settings (4 chains x 1000 draws + 1000 tuning), first fit
   including the compilation;
3. brms (R, rstan backend, ``cores = 2``) on the same standardized data
   ``z = (y - m) / s`` (``m``, ``s`` read from each of our fits' ``constant_data``), with
   ``bf(z ~ 0 + Intercept + time * cond + (1 | participant_id) + (0 + grp_on | group))``,
   ``grp_on`` = treated x has an IMR group x after baseline, and the same priors (read from
   ``models/priors/<set>.yaml``, oriented by each outcome's direction, and checked against the
   priors each of our fits records). One ``brm()`` call compiles and samples the first
   outcome, ``update(newdata = ...)`` samples the other 11 on the compiled model, as a brms
   user batches outcomes. Same draws, chains, warm-up and target acceptance as our spec.

Reported side by side: wall time of the 12-fit batch (brms including its Stan compile),
minimum bulk ESS per fit over the parameters both models share (4 fixed effects, 3 SDs,
15 group effects; ArviZ's bulk ESS for both), ESS per second, the posterior mean and SD of
condition x time (standardized units) per outcome, and the agreement
``|mean_ours - mean_brms| / posterior SD (brms)`` (target <= 0.15).

If R or brms is missing, the script installs the Debian packages (``apt-get install -y
r-base-core r-base-dev r-cran-brms``; root only); if that is impossible it prints one line
and exits 0. Writes the section ``## brms peer benchmark`` of ``bench/results.md`` (full
runs only). Run standalone (``python bench/bench_brms.py [--quick] [--no-install]``) or via
``bench/run.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from results_md import write_section

SECTION = "## brms peer benchmark"
SEED = 4931
ANALYSIS = "itt_parity"
HERE = Path(__file__).resolve().parent
R_SCRIPT = HERE / "brms" / "itt_batch.R"
APT_PACKAGES = ("r-base-core", "r-base-dev", "r-cran-brms")  # r-base-dev: rstan's compiler
AGREEMENT_LIMIT = 0.15  # |difference of posterior means| in posterior SDs (issue 15)
R_TIMEOUT_S = 4 * 3600

#: Our parameter -> (brms prior class, coef, group); the brms formula names these terms.
BRMS_PRIOR_TARGET: dict[str, tuple[str, str, str]] = {
    "intercept": ("b", "Intercept", ""),
    "time": ("b", "time", ""),
    "condition": ("b", "cond", ""),
    "condition_x_time": ("b", "time:cond", ""),
    "sigma_participant": ("sd", "", "participant_id"),
    "sigma_group": ("sd", "", "group"),
    "sigma_residual": ("sigma", "", ""),
}
#: brms fixed-effect names of our terms.
BRMS_B = {"intercept": "b_Intercept", "time": "b_time", "condition": "b_cond",
          "condition_x_time": "b_time:cond"}
NO_GROUP = "none"  # group label of rows without a group effect (grp_on = 0 there)


# ---------------------------------------------------------------------------- environment

def models_dir() -> Path:
    """The repository's ``models/`` folder (``$IMR_BAYES_MODELS`` overrides, as in the package)."""
    env = os.environ.get("IMR_BAYES_MODELS")
    return Path(env) if env else HERE.parent / "models"


def _brms_ready() -> str | None:
    """Return None if Rscript can load brms and rstan and a C++ compiler exists, else why not."""
    if shutil.which("Rscript") is None:
        return "Rscript not found"
    probe = subprocess.run(
        ["Rscript", "-e", "suppressPackageStartupMessages({library(brms); library(rstan)}); "
         "cat(as.character(packageVersion('brms')))"],
        capture_output=True, text=True, timeout=600)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"R cannot load brms/rstan ({last})"
    if shutil.which("g++") is None and shutil.which("c++") is None:
        return "no C++ compiler for Stan (Debian package r-base-dev)"
    return None


def ensure_brms(install: bool) -> str | None:
    """Make brms usable, installing Debian's packages if allowed; return None or the reason."""
    why = _brms_ready()
    if why is None or not install:
        return why
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return f"{why}; cannot install (needs apt-get as root)"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "-o", "DPkg::Lock::Timeout=900", "install", "-y", "-q", *APT_PACKAGES]
    print(f"installing {' '.join(APT_PACKAGES)} with apt-get (one-off) ...", flush=True)
    with tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False) as log:
        ok = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env).returncode == 0
        if not ok:  # stale package lists are the usual cause: refresh once and retry
            subprocess.run(["apt-get", "-o", "DPkg::Lock::Timeout=900", "update", "-q"],
                           stdout=log, stderr=subprocess.STDOUT, env=env)
            ok = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                                env=env).returncode == 0
    if not ok:
        return f"{why}; apt-get install failed (log: {log.name})"
    Path(log.name).unlink(missing_ok=True)
    return _brms_ready()


def uptime() -> str:
    """The ``uptime`` line (load averages over 1, 5, 15 minutes)."""
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True,
                              timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        one, five, fifteen = os.getloadavg()
        return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"


def code_version() -> str:
    """The repository commit the package runs from, noting local changes to ``imr_bayes/``."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(HERE.parent), *args], capture_output=True,
                                  text=True, timeout=60).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown commit"
    dirty = git("status", "--porcelain", "--", "imr_bayes")
    return commit + (" with uncommitted changes in imr_bayes/" if dirty else "")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), "
            f"{mem:.0f} GB RAM, Python {platform.python_version()}")


# ---------------------------------------------------------------------------- specs

def read_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def outcome_directions() -> dict[str, int]:
    """The 12 outcomes in the paper's order with their direction, from the trial facts."""
    trial = read_yaml(models_dir() / "trial.yaml")
    return {code: int(o["direction"]) for code, o in trial["outcomes"].items()}


def resolved_priors(prior_set: str, direction: int) -> dict[str, dict]:
    """The prior set's priors of our ITT parameters, oriented as the package orients them."""
    pset = read_yaml(models_dir() / "priors" / f"{prior_set}.yaml")["priors"]
    out = {}
    for name in BRMS_PRIOR_TARGET:
        p = pset[name]
        kwargs = dict(p["kwargs"])
        if p.get("orient", "none") == "beneficial":
            kwargs["mu"] = kwargs["mu"] * direction
        out[name] = {"dist": p["dist"], "kwargs": kwargs}
    return out


def stan_prior(prior: dict) -> str:
    """A PyMC prior as a Stan prior string (HalfNormal: brms bounds sd and sigma at 0)."""
    kw = prior["kwargs"]
    if prior["dist"] == "Normal":
        return f"normal({float(kw['mu']):g}, {float(kw['sigma']):g})"
    if prior["dist"] == "HalfNormal":
        return f"normal(0, {float(kw['sigma']):g})"
    raise ValueError(f"no brms translation for prior {prior}")


def check_recorded_priors(fit, priors: dict[str, dict]) -> bool | None:
    """Compare with the priors the fit records (``idata.attrs['priors']``); None if absent."""
    try:
        recorded = json.loads(fit.idata.attrs["priors"])
    except (KeyError, TypeError, ValueError):
        return None
    for name, p in priors.items():
        r = recorded.get(name)
        if r is None or r["dist"] != p["dist"] or any(
                float(r["kwargs"][k]) != float(v) for k, v in p["kwargs"].items()):
            raise RuntimeError(f"prior of {name} differs: yaml {p}, fit records {r}")
    return True


# ---------------------------------------------------------------------------- data

def brms_frame(twin: pd.DataFrame, code: str, center: float, scale: float) -> pd.DataFrame:
    """One outcome's observed rows on the standardized scale, in the brms formula's columns."""
    d = twin[["participant_id", "arm", "time", "imr_group", code]].copy()
    d = d[np.isfinite(pd.to_numeric(d[code], errors="coerce"))]
    treated = (d["arm"].astype(str) == "imr").to_numpy()
    has_group = d["imr_group"].notna().to_numpy() & treated
    time_ = pd.to_numeric(d["time"]).astype(int).to_numpy()
    return pd.DataFrame({
        "outcome": code,
        "participant_id": d["participant_id"].astype(str).to_numpy(),
        "group": np.where(has_group, d["imr_group"].astype(str).to_numpy(), NO_GROUP),
        "time": time_,
        "cond": treated.astype(int),
        "grp_on": (has_group & (time_ > 0)).astype(int),
        "z": (pd.to_numeric(d[code]).to_numpy(float) - center) / scale,
    })


# ---------------------------------------------------------------------------- the three engines

def reml_batch(frames: dict[str, pd.DataFrame]) -> dict[str, object]:
    """12 statsmodels REML fits of ``z ~ time * cond + (1 | participant)``, timed together."""
    import statsmodels.formula.api as smf

    est, t0, c0 = {}, time.perf_counter(), time.process_time()
    for code, d in frames.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = smf.mixedlm("z ~ time * cond", d, groups=d["participant_id"]).fit(reml=True)
        est[code] = (float(res.params["time:cond"]), float(res.bse["time:cond"]))
    return {"wall": time.perf_counter() - t0, "cpu": time.process_time() - c0, "est": est}


def ess_table(ds) -> dict[str, float]:
    """Minimum bulk ESS and maximum R-hat over the variables of an (chain, draw, ...) Dataset."""
    import arviz as az

    def worst(res, fn):
        res = getattr(res, "dataset", res)
        return float(fn([fn(np.asarray(res[v].values)) for v in res.data_vars]))

    return {"min_ess": worst(az.ess(ds, method="bulk"), np.min),
            "max_rhat": worst(az.rhat(ds), np.max)}


def ours_summary(fit) -> dict[str, float]:
    """Condition x time (standardized), ESS and R-hat over the shared parameters, of our fit."""
    import arviz as az
    import xarray as xr

    post = fit.idata["posterior"].to_dataset()
    scale = float(fit.idata["constant_data"]["scale"].values)
    shared = xr.Dataset({
        "beta_std": post["beta_std"],
        **{v: post[v] / scale for v in ("sigma_participant", "sigma_group", "sigma_residual",
                                         "group_effect") if v in post},
    })
    cxt = post["beta_std"].sel(term="condition_x_time")
    mcse = az.mcse(xr.Dataset({"x": cxt}), method="mean")
    eff = fit.effects
    row = eff[eff["estimand"] == "condition_x_time_d"].iloc[0]
    return {"mean": float(row["mean"]), "sd": float(row["sd"]),
            "mcse": float(getattr(mcse, "dataset", mcse)["x"]),
            "sigma_group": float((post["sigma_group"] / scale).mean()),
            "divergences": int(fit.diagnostics.divergences),
            "passed": bool(fit.diagnostics.passed), **ess_table(shared)}


def ours_batch(twin: pd.DataFrame, codes, settings: dict) -> dict[str, object]:
    """Our 12 fits, timed one by one after the heavy imports (brms's library load is also
    timed outside its batch)."""
    t0 = time.perf_counter()
    import arviz  # noqa: F401  (imported here only to time the package load separately)
    import nutpie  # noqa: F401
    import pymc  # noqa: F401

    import imr_bayes

    t_import = time.perf_counter() - t0
    fits, times, cpus = {}, [], []
    for code in codes:
        t0, c0 = time.perf_counter(), time.process_time()
        fits[code] = imr_bayes.fit(twin, outcome=code, analysis=ANALYSIS, seed=SEED,
                                   prior_set=settings["prior_set"], draws=settings["draws"],
                                   tune=settings["tune"], chains=settings["chains"])
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"fits": fits, "times": times, "cpu": cpus,
            "import_s": t_import}


def brms_batch(frames: dict[str, pd.DataFrame], priors: dict[str, dict[str, dict]],
               settings: dict, keep: Path | None) -> dict[str, object]:
    """Run ``bench/brms/itt_batch.R`` once for all outcomes; return its timings and draws."""
    with tempfile.TemporaryDirectory(prefix="bench_brms_") as tmp:
        out = keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        pd.concat(frames.values()).to_csv(out / "data.csv", index=False)
        rows = [{"outcome": code, "class": BRMS_PRIOR_TARGET[name][0],
                 "coef": BRMS_PRIOR_TARGET[name][1], "group": BRMS_PRIOR_TARGET[name][2],
                 "prior": stan_prior(p)}
                for code, pr in priors.items() for name, p in pr.items()]
        pd.DataFrame(rows).to_csv(out / "priors.csv", index=False)
        pd.DataFrame({"name": ["iter", "warmup", "chains", "cores", "adapt_delta", "seed",
                               "backend"],
                      "value": [settings["draws"] + settings["tune"], settings["tune"],
                                settings["chains"], settings["cores"],
                                settings["target_accept"], SEED, "rstan"]}
                     ).to_csv(out / "settings.csv", index=False)
        before = resource_children()
        t0 = time.perf_counter()
        proc = subprocess.run(["Rscript", str(R_SCRIPT), str(out / "data.csv"),
                               str(out / "priors.csv"), str(out / "settings.csv"), str(out)],
                              capture_output=True, text=True, timeout=R_TIMEOUT_S)
        wall = time.perf_counter() - t0
        cpu = resource_children() - before
        if proc.returncode != 0:
            (out / "R.log").write_text(proc.stdout + proc.stderr)
            raise RuntimeError("brms run failed: "
                               + "\n".join((proc.stdout + proc.stderr).strip()
                                           .splitlines()[-15:]))
        timings = pd.read_csv(out / "timings.csv")
        draws = pd.read_csv(out / "draws.csv")
        versions = dict(pd.read_csv(out / "versions.csv", keep_default_na=False)
                        .itertuples(index=False, name=None))
    return {"timings": timings, "draws": draws, "versions": versions, "wall": wall, "cpu": cpu}


def resource_children() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def brms_summary(draws: pd.DataFrame, code: str, groups) -> dict[str, float]:
    """Condition x time, ESS and R-hat over the parameters our model also has, of one fit."""
    import arviz as az
    import xarray as xr

    d = draws[draws["outcome"] == code].sort_values([".chain", ".iteration"])
    n_chain = d[".chain"].nunique()
    cols = [*BRMS_B.values(), "sd_participant_id__Intercept", "sd_group__grp_on", "sigma",
            *[f"r_group[{g},grp_on]" for g in groups]]
    missing = [c for c in cols if c not in d.columns or d[c].isna().all()]
    if missing:
        raise RuntimeError(f"brms draws of {code} lack {missing}")

    def cd(c):
        return d[c].to_numpy(float).reshape(n_chain, -1)

    ds = xr.Dataset({c: (("chain", "draw"), cd(c)) for c in cols})
    x = cd("b_time:cond")
    mcse = az.mcse(xr.Dataset({"x": (("chain", "draw"), x)}), method="mean")
    return {"mean": float(x.mean()), "sd": float(x.std(ddof=1)),
            "mcse": float(getattr(mcse, "dataset", mcse)["x"]),
            "sigma_group": float(cd("sd_group__grp_on").mean()), **ess_table(ds)}


# ---------------------------------------------------------------------------- report

def fmt(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if abs(x) < 1e-3 or abs(x) >= 1e4 else f"{x:.{digits}f}"


def report(res: dict) -> str:
    codes, per = res["codes"], res["per"]
    o_t, b_t = res["ours_times"], res["brms_times"]
    o_ess = sum(per[c]["ours"]["min_ess"] for c in codes)
    b_ess = sum(per[c]["brms"]["min_ess"] for c in codes)
    o_batch, b_batch = float(sum(o_t)), float(sum(b_t))
    o_cpu, b_cpu = float(sum(res["ours_cpu"])), float(sum(res["brms_cpu_fits"]))
    o_rate, b_rate = o_ess / o_batch, b_ess / b_batch
    worst = max(per[c]["agreement"] for c in codes)
    n_ok = sum(per[c]["agreement"] <= AGREEMENT_LIMIT for c in codes)
    s, v = res["settings"], res["versions"]
    loads = res["loads"]
    lines = [
        SECTION, "",
        f"Measured {res['when']} by `bench/bench_brms.py` on {res['machine']}; "
        f"R {v.get('R')}, brms {v.get('brms')}, rstan {v.get('rstan')} (StanHeaders "
        f"{v.get('StanHeaders')}), backend `rstan`, `cores = {s['cores']}`. Everything below "
        "comes from this one run (one process for REML and ours, one `Rscript` child for "
        f"brms) on the default twin, prior set `{s['prior_set']}`, {s['chains']} chains x "
        f"{s['draws']} draws + {s['tune']} warm-up for both samplers, target acceptance / "
        f"`adapt_delta` {s['target_accept']}, seed {SEED}; imr_bayes at {res['code']}.", "",
        f"Machine load (`uptime`): at start `{res['uptime_start']}`; at end "
        f"`{res['uptime_end']}`. 1-min load before each phase: REML {loads['reml']:.1f}, "
        f"ours {loads['ours']:.1f}, brms {loads['brms']:.1f}; after {loads['end']:.1f} "
        "(2 cores: above ~2 other jobs competed for them and absolute times are pessimistic; "
        "the *CPU share* row shows how much of the cores each engine got).", "",
        "| quantity | imr_bayes `fit(analysis=\"itt_parity\")` | brms (rstan) | statsmodels REML |",
        "|---|---:|---:|---:|",
        f"| **{len(codes)}-outcome batch wall time (s)**, incl. the one compile | "
        f"**{o_batch:.1f}** | "
        f"**{b_batch:.1f}** | **{res['reml']['wall']:.1f}** |",
        f"| first fit: compile + sampling (s) | {o_t[0]:.1f} | {b_t[0]:.1f} | — |",
        f"| later fits, median (s) | {np.median(o_t[1:]):.1f} | {np.median(b_t[1:]):.1f} | — |",
        f"| brms: Stan's own sampling time per fit, slowest chain, median (s) | — | "
        f"{np.median(res['brms_chain_max']):.1f} | — |",
        f"| batch / REML | {o_batch / res['reml']['wall']:.1f}x | "
        f"{b_batch / res['reml']['wall']:.1f}x | 1 |",
        f"| outside the batch: package load (s) | {res['ours_import']:.1f} (`import pymc, "
        f"nutpie, arviz, imr_bayes`) | {float(v.get('load_s', 'nan')):.1f} (`library(brms)`; "
        f"R start, CSV in/out and the rest of `Rscript`: "
        f"{res['brms_wall'] - b_batch - float(v.get('load_s', 'nan')):.1f}) | — |",
        f"| batch CPU time (s) / share of wall (100 % = one whole core) | {o_cpu:.0f} / "
        f"{o_cpu / o_batch:.0%} (process, all threads) | {b_cpu:.0f} / {b_cpu / b_batch:.0%} "
        f"(R, compiler and rstan workers; whole `Rscript` {res['brms_cpu']:.0f} s) | "
        f"{res['reml']['cpu']:.1f} / {res['reml']['cpu'] / res['reml']['wall']:.0%} |",
        f"| min bulk ESS per fit: median (range) | "
        f"{np.median([per[c]['ours']['min_ess'] for c in codes]):.0f} "
        f"({min(per[c]['ours']['min_ess'] for c in codes):.0f}–"
        f"{max(per[c]['ours']['min_ess'] for c in codes):.0f}) | "
        f"{np.median([per[c]['brms']['min_ess'] for c in codes]):.0f} "
        f"({min(per[c]['brms']['min_ess'] for c in codes):.0f}–"
        f"{max(per[c]['brms']['min_ess'] for c in codes):.0f}) | — |",
        f"| **batch ESS/s** (sum of min bulk ESS / batch wall) | **{o_rate:.0f}** | "
        f"**{b_rate:.1f}** | — |",
        f"| **ESS/s ratio ours / brms, batch incl. both compiles** (target >= 50) | "
        f"**{o_rate / b_rate:.1f}x** | 1 | — |",
        f"| ESS per CPU second, batch (less sensitive to the load) | {o_ess / o_cpu:.0f} | "
        f"{b_ess / b_cpu:.1f} | — |",
        f"| ESS per CPU second ratio ours / brms | {(o_ess / o_cpu) / (b_ess / b_cpu):.1f}x | "
        "1 | — |",
        f"| ESS/s ratio, later fits only (median fit time, no compile) | "
        f"{(o_ess / np.median(o_t[1:])) / (b_ess / np.median(b_t[1:])):.1f}x | 1 | — |",
        f"| max R-hat over the {len(codes)} fits | "
        f"{max(per[c]['ours']['max_rhat'] for c in codes):.4f} | "
        f"{max(per[c]['brms']['max_rhat'] for c in codes):.4f} | — |",
        f"| divergent transitions, all fits | "
        f"{sum(per[c]['ours']['divergences'] for c in codes)} | "
        f"{sum(per[c]['brms']['divergences'] for c in codes)} | — |",
        f"| **agreement: fits within {AGREEMENT_LIMIT} posterior SD** | **{n_ok} / "
        f"{len(codes)}** (worst {worst:.3f} SD) | | |",
        "",
        "Condition x time per outcome, standardized units (baseline SDs per time step; raw "
        "units = x s). *|Δ|/SD* = |mean ours − mean brms| / brms posterior SD; *MC SE* = the "
        "Monte Carlo SE of that difference in the same units, sqrt(MCSE_ours² + MCSE_brms²) / "
        "SD. REML is the model without the group effect (not expected to match exactly).",
        "",
        "| outcome | ours: mean (SD) | brms: mean (SD) | **\\|Δ\\|/SD** | MC SE | SD ratio "
        "ours/brms | σ_group ours / brms | REML (SE) | min bulk ESS ours / brms | wall s "
        "ours / brms | ESS/s ours / brms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, c in enumerate(codes):
        o, b = per[c]["ours"], per[c]["brms"]
        r_est, r_se = res["reml"]["est"][c]
        lines.append(
            f"| {c} | {fmt(o['mean'], 4)} ({o['sd']:.4f}) | {fmt(b['mean'], 4)} "
            f"({b['sd']:.4f}) | **{per[c]['agreement']:.3f}** | {per[c]['mc_se']:.3f} | "
            f"{o['sd'] / b['sd']:.3f} | {o['sigma_group']:.3f} / {b['sigma_group']:.3f} | "
            f"{fmt(r_est, 4)} ({r_se:.4f}) | {o['min_ess']:.0f} / {b['min_ess']:.0f} | "
            f"{o_t[k]:.1f} / {b_t[k]:.1f} | {o['min_ess'] / o_t[k]:.0f} / "
            f"{b['min_ess'] / b_t[k]:.1f} |")
    lines += [
        "",
        f"Result of this run: agreement within {AGREEMENT_LIMIT} SD for **{n_ok} of "
        f"{len(codes)}** outcomes (target: all); batch ESS/s **{o_rate / b_rate:.1f}x** brms "
        f"(target >= 50x: **{'met' if o_rate / b_rate >= 50 else 'missed'}**). "
        "Min bulk ESS is taken over the 22 parameters both models sample or imply (4 fixed "
        "effects, σ_participant, σ_group, σ_residual, 15 group effects; ArviZ bulk ESS for "
        "both); brms additionally samples the participant intercepts, which ours integrates "
        "out. brms's first fit includes the Stan compile of the model (C++); every later "
        "fit is `update(newdata = ...)` on the compiled model, and each rstan fit with "
        "`cores = 2` also starts its own R worker processes. Notes and the model-ladder "
        "equivalents: `docs/peer_benchmark.md`.",
        "",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------- main

def parse(argv) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="2 outcomes, 2 chains x 200 draws + 200 warm-up; prints only")
    p.add_argument("--no-install", action="store_true",
                   help="skip instead of installing R/brms with apt-get")
    p.add_argument("--prior-set", default="default")
    p.add_argument("--keep", type=Path, help="keep brms's inputs and outputs in this folder")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(argv)
    uptime_start = uptime()
    version_start = code_version()
    why = ensure_brms(install=not args.no_install)
    if why is not None:
        print(f"bench_brms: skipped, brms not available: {why}")
        return 0
    from imr_bayes.data import default_twin

    spec = read_yaml(models_dir() / "analyses" / f"{ANALYSIS}.yaml")["sampler"]
    settings = {"draws": spec["draws"], "tune": spec["tune"], "chains": spec["chains"],
                "cores": spec.get("cores", 2), "target_accept": spec["target_accept"],
                "prior_set": args.prior_set}
    directions = outcome_directions()
    codes = list(directions)
    if args.quick:
        settings.update(draws=200, tune=200, chains=2)
        codes = codes[:2]
    loads = {}
    twin = default_twin()

    # Ours first: its fits give the standardization each brms data set must use.
    loads["ours"] = os.getloadavg()[0]
    ours = ours_batch(twin, codes, settings)
    frames, priors, prior_checked = {}, {}, []
    for code in codes:
        fit = ours["fits"][code]
        cdata = fit.idata["constant_data"]
        center, scale = float(cdata["center"].values), float(cdata["scale"].values)
        frames[code] = brms_frame(twin, code, center, scale)
        if len(frames[code]) != int(cdata["mask"].values.sum()):
            raise RuntimeError(f"{code}: {len(frames[code])} brms rows vs "
                               f"{int(cdata['mask'].values.sum())} in our fit")
        priors[code] = resolved_priors(args.prior_set, directions[code])
        prior_checked.append(check_recorded_priors(fit, priors[code]))
    loads["reml"] = os.getloadavg()[0]
    reml = reml_batch(frames)
    loads["brms"] = os.getloadavg()[0]
    brms = brms_batch(frames, priors, settings, args.keep)
    loads["end"] = os.getloadavg()[0]

    timings = brms["timings"].set_index("outcome").loc[codes]
    per = {}
    for code in codes:
        fit = ours["fits"][code]
        groups = [str(g) for g in fit.idata["posterior"]["group"].values]
        o = ours_summary(fit)
        b = brms_summary(brms["draws"], code, groups)
        b["divergences"] = int(timings.loc[code, "divergences"])
        per[code] = {"ours": o, "brms": b,
                     "agreement": abs(o["mean"] - b["mean"]) / b["sd"],
                     "mc_se": float(np.hypot(o["mcse"], b["mcse"]) / b["sd"])}
    res = {
        "codes": codes, "per": per, "settings": settings, "versions": brms["versions"],
        "ours_times": ours["times"], "ours_cpu": ours["cpu"], "ours_import": ours["import_s"],
        "brms_times": timings["wall_s"].to_list(), "brms_wall": brms["wall"],
        "brms_cpu_fits": timings["cpu_s"].to_list(),
        "brms_chain_max": timings["stan_chain_s_max"].to_list(),
        "brms_cpu": brms["cpu"], "reml": reml, "loads": loads,
        "uptime_start": uptime_start, "uptime_end": uptime(),
        "code": (version_start if version_start == code_version() else
                 f"{version_start} at the start, {code_version()} at the end (the package "
                 "changed during the run)"),
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
    }
    text = report(res)
    if all(prior_checked):
        text += ("Priors: every brms prior equals the prior our fit of that outcome records "
                 "(`idata.attrs['priors']`).\n")
    print(text)
    if args.quick or args.prior_set != "default":
        print("(quick or non-default run: bench/results.md not written)", file=sys.stderr)
    else:
        write_section(SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
