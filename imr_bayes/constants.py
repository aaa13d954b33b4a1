"""Package-wide constants: the one interval level, the default seed, the trial design."""

from __future__ import annotations

#: Interval level used everywhere. The paper prints 95 % CIs; ArviZ 1.x defaults to an
#: 89 % ETI, so every call into ArviZ passes this level explicitly.
CI_LEVEL: float = 0.95

#: Default seed of the synthetic twin and of every fit (the trial's register number, NL4931).
DEFAULT_SEED: int = 4931

#: Measurement moments: 0 = baseline (T1), 1 = 12 months (T2), 2 = 18 months (T3).
TIMES: tuple[int, int, int] = (0, 1, 2)
TIME_LABELS: dict[int, str] = {0: "baseline", 1: "12 months", 2: "18 months"}

#: Arms as coded in the data contract.
ARMS: tuple[str, str] = ("imr", "cau")

N_RANDOMIZED: dict[str, int] = {"imr": 116, "cau": 71}
N_TEAMS: int = 14
N_IMR_GROUPS: int = 15
#: The trial's planned standardized effect (power analysis, d = 0.40).
PLANNED_EFFECT_D: float = 0.40
