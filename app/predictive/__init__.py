"""Population models of purchasing and spend, and each client's scores: pure maths (numpy,
scipy), no database, no web framework, no clock. docs/models.md has the formulas and choices.

- `summarize` / `summarize_arrays`: orders → (x, t_x, T, mean repeat spend), same-day orders one
  occasion.
- `fit_bgnbd` (BG/NBD or MBG/NBD, `Variant`; winback wires `RECOMMENDED_VARIANT`, MBG/NBD) and
  `fit_gamma_gamma`: maximum likelihood, each a frozen `Fit` (params, n, log-likelihood,
  converged, iterations, seconds, fallback reason).
- Scores, vectorised: `p_alive`, `expected_purchases`, `purchase_probability`,
  `next_purchase_median`, `expected_spend`, `clv`; for one client: `score` → `ClientScores`.
"""

from app.predictive.bgnbd import (
    RECOMMENDED_VARIANT,
    BgNbdParams,
    Variant,
    expected_purchases,
    fit_bgnbd,
    next_purchase_median,
    p_alive,
    purchase_probability,
)
from app.predictive.fitting import Fit
from app.predictive.gamma_gamma import GammaGammaParams, expected_spend, fit_gamma_gamma
from app.predictive.summary import (
    DAYS,
    WEEKS,
    ClientSummary,
    Summaries,
    summarize,
    summarize_arrays,
)
from app.predictive.value import ClientScores, clv, score

__all__ = [
    "DAYS",
    "RECOMMENDED_VARIANT",
    "WEEKS",
    "BgNbdParams",
    "ClientScores",
    "ClientSummary",
    "Fit",
    "GammaGammaParams",
    "Summaries",
    "Variant",
    "clv",
    "expected_purchases",
    "expected_spend",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "next_purchase_median",
    "p_alive",
    "purchase_probability",
    "score",
    "summarize",
    "summarize_arrays",
]
