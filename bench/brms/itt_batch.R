# brms peer benchmark: the partially nested ITT model for every outcome in one R session.
#
# Called by bench/bench_brms.py (not meant to be run by hand, but it can be):
#   Rscript bench/brms/itt_batch.R DATA.csv PRIORS.csv SETTINGS.csv OUTDIR
#
# DATA.csv      long data, one row per observed participant x time and outcome:
#               outcome, participant_id, group, time, cond, grp_on, z (standardized outcome)
# PRIORS.csv    outcome, class, coef, group, prior (a Stan prior string such as
#               "normal(0, 0.5)"); per outcome, since oriented priors depend on its direction
# SETTINGS.csv  name, value: iter, warmup, chains, cores, adapt_delta, seed, backend
# OUTDIR        receives timings.csv, draws.csv, versions.csv, stancode.stan
#
# The first outcome is fitted with brm() (Stan compile + sampling); every further outcome
# with update(fit, newdata = ...), which reuses the compiled model as a brms user batching
# outcomes would. brms writes prior constants into the Stan code, so an outcome whose priors
# differ from the previous fit's (an oriented prior set) is fitted with brm() again
# (recompiled). Timings are wall-clock seconds measured here, around each call.

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 4) stop("usage: itt_batch.R DATA.csv PRIORS.csv SETTINGS.csv OUTDIR")
data_path <- args[1]; priors_path <- args[2]; settings_path <- args[3]; outdir <- args[4]

now <- function() as.numeric(Sys.time())
# CPU seconds of this R process and its reaped children: the compiler and rstan's worker
# processes (cores > 1) are children, so their CPU counts too.
cpu <- function() sum(proc.time()[c("user.self", "sys.self", "user.child", "sys.child")],
                      na.rm = TRUE)
t_load0 <- now()
suppressPackageStartupMessages({
  library(brms)
  library(rstan)
})
t_load <- now() - t_load0
# Debian's r-cran-bh is an empty shell (Boost comes from libboost-dev in /usr/include), so
# rstan's default boost_lib, system.file("include", package = "BH"), does not exist and
# stan_model() stops with "Boost not found". Point it at the system headers in that case.
if (!file.exists(rstan_options("boost_lib")) && dir.exists("/usr/include/boost"))
  rstan_options(boost_lib = "/usr/include")

settings <- read.csv(settings_path, stringsAsFactors = FALSE)
setting <- function(name) {
  v <- settings$value[settings$name == name]
  if (length(v) != 1) stop("setting missing: ", name)
  v
}
iter <- as.integer(setting("iter")); warmup <- as.integer(setting("warmup"))
chains <- as.integer(setting("chains")); cores <- as.integer(setting("cores"))
adapt_delta <- as.numeric(setting("adapt_delta")); seed <- as.integer(setting("seed"))
backend <- setting("backend")

long <- read.csv(data_path, stringsAsFactors = FALSE,
                 colClasses = c(participant_id = "character", group = "character"))
pr <- read.csv(priors_path, stringsAsFactors = FALSE, na.strings = "")
pr[is.na(pr)] <- ""
priors_of <- function(code) {
  p <- pr[pr$outcome == code, ]
  if (nrow(p) == 0) stop("no priors for outcome ", code)
  do.call(c, lapply(seq_len(nrow(p)), function(k)
    set_prior(p$prior[k], class = p$class[k], coef = p$coef[k], group = p$group[k])))
}
prior_key <- function(code) {
  p <- pr[pr$outcome == code, c("class", "coef", "group", "prior")]
  paste(do.call(paste, p[order(p$class, p$coef, p$group), ]), collapse = ";")
}

form <- bf(z ~ 0 + Intercept + time * cond + (1 | participant_id) + (0 + grp_on | group))
outcomes <- unique(long$outcome)  # in the order the caller wrote them

timings <- list(); draws <- list(); fit <- NULL; fit_key <- NULL
for (k in seq_along(outcomes)) {
  code <- outcomes[k]
  d <- long[long$outcome == code, c("participant_id", "group", "time", "cond", "grp_on", "z")]
  compile <- is.null(fit) || prior_key(code) != fit_key
  t0 <- now(); c0 <- cpu()
  if (compile) {
    fit <- brm(form, data = d, family = gaussian(), prior = priors_of(code), chains = chains,
               iter = iter, warmup = warmup, cores = cores, seed = seed, backend = backend,
               control = list(adapt_delta = adapt_delta), refresh = 0, silent = 2)
  } else {
    fit <- update(fit, newdata = d, recompile = FALSE, chains = chains, iter = iter,
                  warmup = warmup, cores = cores, seed = seed,
                  control = list(adapt_delta = adapt_delta), refresh = 0, silent = 2)
  }
  wall <- now() - t0; cpu_s <- cpu() - c0
  fit_key <- prior_key(code)
  el <- rstan::get_elapsed_time(fit$fit)  # per chain: warmup, sample (seconds)
  sp <- rstan::get_sampler_params(fit$fit, inc_warmup = FALSE)
  timings[[k]] <- data.frame(
    outcome = code, step = if (compile) "brm (compile + sample)" else "update (sample)",
    wall_s = wall, cpu_s = cpu_s, stan_chain_s_sum = sum(el), stan_chain_s_max = max(rowSums(el)),
    divergences = sum(sapply(sp, function(x) sum(x[, "divergent__"]))),
    n_rows = nrow(d), stringsAsFactors = FALSE)
  # Only the parameters our model also has (b, SDs, sigma, the 15 group effects); the
  # participant intercepts are integrated out in ours, so they are not compared.
  dr <- as.data.frame(as_draws_df(fit, variable = "^(b_|sd_|sigma$|r_group\\[)",
                                  regex = TRUE))
  dr$outcome <- code
  draws[[k]] <- dr
}

write.csv(do.call(rbind, timings), file.path(outdir, "timings.csv"), row.names = FALSE)
all_cols <- Reduce(union, lapply(draws, names))
draws <- lapply(draws, function(x) { x[setdiff(all_cols, names(x))] <- NA; x[all_cols] })
write.csv(do.call(rbind, draws), file.path(outdir, "draws.csv"), row.names = FALSE)
writeLines(stancode(fit), file.path(outdir, "stancode.stan"))
write.csv(data.frame(
  name = c("R", "brms", "rstan", "StanHeaders", "load_s", "prior_summary"),
  value = c(paste(R.version$major, R.version$minor, sep = "."),
            as.character(packageVersion("brms")), as.character(packageVersion("rstan")),
            as.character(packageVersion("StanHeaders")), format(t_load, digits = 6),
            paste(capture.output(print(prior_summary(fit), show_df = FALSE)),
                  collapse = "\n"))),
  file.path(outdir, "versions.csv"), row.names = FALSE)
