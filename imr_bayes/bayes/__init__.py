"""Bayesian counterparts of the trial's analyses: PyMC models, nutpie sampling, fast path.

Public entry points are :func:`imr_bayes.fit`, :func:`imr_bayes.fit_formula` and
:class:`imr_bayes.BayesianFit` (module :mod:`imr_bayes.bayes.api`). Analyses are the YAML specs of
``models/analyses``; their kinds' fit functions are registered in :mod:`imr_bayes.registry`;
every model samples through :mod:`imr_bayes.bayes.engine`.
"""
