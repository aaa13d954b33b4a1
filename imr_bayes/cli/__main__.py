"""Allow ``python -m imr_bayes.cli``."""

import sys

from imr_bayes.cli import main

sys.exit(main())
