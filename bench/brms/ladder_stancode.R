# brms equivalents of the model-ladder rungs (issue 14), checked for expressibility only:
# each rung's formula and priors are turned into Stan code with make_stancode(); nothing is
# compiled or sampled. docs/peer_benchmark.md lists the same formulas and what could not be
# written with the installed brms.
#
#   Rscript bench/brms/ladder_stancode.R DATA.csv [OUTDIR]
#
# DATA.csv: the long file bench/bench_brms.py writes (outcome, participant_id, group, time,
# cond, grp_on, z); `bench_brms.py --keep DIR` leaves it in DIR/data.csv. One outcome
# (imrs_client) is used; only the structure matters here. Prints one line per rung:
# "ok" or the brms error; with OUTDIR, writes each rung's Stan code there.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 1) stop("usage: ladder_stancode.R DATA.csv [OUTDIR]")
outdir <- if (length(args) > 1) args[2] else NA
suppressPackageStartupMessages(library(brms))

long <- read.csv(args[1], stringsAsFactors = FALSE,
                 colClasses = c(participant_id = "character", group = "character"))
d <- long[long$outcome == "imrs_client", ]
d$post <- as.integer(d$time > 0)
# Residual SD phase: shared at baseline, arm-specific after baseline.
d$phase <- factor(ifelse(d$time == 0, "baseline", ifelse(d$cond == 1, "imr_post", "cau_post")),
                  levels = c("baseline", "imr_post", "cau_post"))
d$grp_slope <- d$grp_on * d$time             # group deviation on the treated slope
d$t1 <- as.integer(d$time == 1); d$t2 <- as.integer(d$time == 2)
d$imr_t1 <- d$cond * d$t1; d$imr_t2 <- d$cond * d$t2
d$time_f <- factor(d$time)
d$team <- factor(as.integer(factor(d$participant_id)) %% 14)  # stand-in: structure only
# Discrete stand-ins on the outcome's scales, for the likelihood rung (structure only).
d$y_ord <- pmin(4L, pmax(0L, round(2 + 2 * d$z))) + 1L        # ASI-like 0-4 item, as 1..5
d$y_sum <- pmin(12L, pmax(0L, round(6 + 3 * d$z)))           # SES-like 0-12 sum
d$cens <- ifelse(d$z <= -2, "left", ifelse(d$z >= 2, "right", "none"))
wide <- reshape(d[, c("participant_id", "group", "cond", "time", "z")], direction = "wide",
                idvar = c("participant_id", "group", "cond"), timevar = "time")
wide$grp_on <- as.integer(wide$group != "none")

base_priors <- c(
  prior(normal(0, 1), class = b, coef = Intercept),
  prior(normal(0, 0.5), class = b, coef = time),
  prior(normal(0, 0.5), class = b, coef = cond),
  prior(normal(0, 0.5), class = b, coef = "time:cond"),
  prior(normal(0, 1), class = sd, group = participant_id),
  prior(normal(0, 0.5), class = sd, group = group))
sigma_by_phase <- prior(normal(0, 1), class = b, dpar = sigma, lb = 0)
clda_priors <- c(
  prior(normal(0, 1), class = b, coef = Intercept),
  prior(normal(0, 1), class = b, coef = t1), prior(normal(0, 1), class = b, coef = t2),
  prior(normal(0, 1), class = b, coef = imr_t1), prior(normal(0, 1), class = b, coef = imr_t2),
  prior(normal(0, 0.5), class = sd, group = group))

rungs <- list(
  itt_parity = list(
    bf(z ~ 0 + Intercept + time * cond + (1 | participant_id)),
    gaussian(), c(base_priors[1:5, ], prior(normal(0, 1), class = sigma)), d),
  itt_benchmarked = list(
    bf(z ~ 0 + Intercept + time * cond + (1 | participant_id) + (0 + grp_on | group)),
    gaussian(), c(base_priors, prior(normal(0, 1), class = sigma)), d),
  partially_nested_default = list(
    bf(z ~ 0 + Intercept + time * cond + team + (1 | participant_id) +
         (0 + grp_on + grp_slope | group), sigma ~ 0 + phase),
    brmsfamily("gaussian", link_sigma = "identity"),
    c(base_priors, prior(normal(0, 0.5), class = b), sigma_by_phase,
      prior(lkj(2), class = cor, group = group)), d),
  clda_cosy = list(
    bf(z ~ 0 + Intercept + t1 + t2 + imr_t1 + imr_t2 + (0 + grp_on | group) +
         cosy(time = time, gr = participant_id), sigma ~ 0 + phase),
    brmsfamily("gaussian", link_sigma = "identity"), c(clda_priors, sigma_by_phase), d),
  clda_unstr = list(
    bf(z ~ 0 + Intercept + t1 + t2 + imr_t1 + imr_t2 + (0 + grp_on | group) +
         unstr(time = time_f, gr = participant_id), sigma ~ 0 + phase),
    brmsfamily("gaussian", link_sigma = "identity"), c(clda_priors, sigma_by_phase), d),
  clda_ar1 = list(
    bf(z ~ 0 + Intercept + t1 + t2 + imr_t1 + imr_t2 + (0 + grp_on | group) +
         ar(time = time, gr = participant_id, p = 1, cov = TRUE)),
    gaussian(), clda_priors, d),
  clda_random_unstructured = list(
    bf(z ~ 0 + Intercept + t1 + t2 + imr_t1 + imr_t2 + (0 + grp_on | group) +
         (0 + time_f | participant_id)),
    gaussian(), c(clda_priors, prior(lkj(2), class = cor, group = participant_id)), d),
  clda_multivariate_rescor = list(
    bf(z.0 | mi() ~ 1) + bf(z.1 | mi() ~ cond + (0 + grp_on | g | group)) +
      bf(z.2 | mi() ~ cond + (0 + grp_on | g | group)) + set_rescor(TRUE),
    gaussian(), NULL, wide),
  clda_multivariate_rescor_arm_sd = list(
    bf(z.0 | mi() ~ 1) + bf(z.1 | mi() ~ cond + (0 + grp_on | g | group), sigma ~ cond) +
      bf(z.2 | mi() ~ cond + (0 + grp_on | g | group), sigma ~ cond) + set_rescor(TRUE),
    gaussian(), NULL, wide),
  ordinal_asi = list(
    bf(y_ord ~ time * cond + (1 | participant_id) + (0 + grp_on | group)),
    cumulative("logit"), NULL, d),
  beta_binomial_sum = list(
    bf(y_sum | trials(12) ~ time * cond + (1 | participant_id) + (0 + grp_on | group)),
    beta_binomial(), NULL, d),
  censored_normal = list(
    bf(z | cens(cens) ~ 0 + Intercept + time * cond + (1 | participant_id) +
         (0 + grp_on | group)),
    gaussian(), c(base_priors, prior(normal(0, 1), class = sigma)), d)
)

for (name in names(rungs)) {
  r <- rungs[[name]]
  code <- tryCatch(
    make_stancode(r[[1]], data = r[[4]], family = r[[2]], prior = r[[3]]),
    error = function(e) e)
  if (inherits(code, "error")) {
    cat(sprintf("%-32s not expressible: %s\n", name,
                gsub("\\s+", " ", conditionMessage(code))))
  } else {
    cat(sprintf("%-32s ok\n", name))
    if (!is.na(outdir)) writeLines(code, file.path(outdir, paste0(name, ".stan")))
  }
}
