"""Run every ``bench/bench_*.py`` in its own process (``make bench``); stop at a failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    """Run the benchmarks in name order; return the first non-zero exit code, else 0."""
    here = Path(__file__).resolve().parent
    for script in sorted(here.glob("bench_*.py")):
        print(f"== {script.name}", flush=True)
        code = subprocess.call([sys.executable, str(script)])
        if code:
            print(f"{script.name} failed with exit code {code}", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
