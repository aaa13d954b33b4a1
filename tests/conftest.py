"""Shared pytest configuration.

The fast tier runs by default (``make test``); tests marked ``slow`` run with
``make test-slow``. MCMC fits used by several tests are session-scoped fixtures.
"""

from __future__ import annotations

import os

# Keep numerical libraries from oversubscribing the 2-core machines.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
