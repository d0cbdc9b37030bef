"""How a reported quantile was found: the names the estimates and the recommendation share.

Kept apart from `estimate.py` (numpy, scipy) so the recommendation's model, which `history`
and `export --check` load, needs neither.
"""

from __future__ import annotations

from typing import Literal

Method = Literal["kaplan-meier", "lognormal-tail", "insufficient-data"]
