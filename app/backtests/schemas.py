"""API shapes for backtests, tuning and the population model."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from app.domain import Moment, Status

CUTOFF_EXAMPLE: JsonDict = {"cutoff": "2025-09-30T23:59:59Z", "horizon_days": 273}


class BacktestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [CUTOFF_EXAMPLE]})

    cutoff: Moment = Field(
        description="evaluate every client as it stood at this moment (events up to it, "
        "population figures from the history up to it)"
    )
    horizon_days: int = Field(
        ge=1,
        le=3650,
        description="a client churned when it placed no order within this many days after the "
        "cutoff; cutoff + horizon_days must be in the past",
    )


class StatusCount(BaseModel):
    status: Status
    clients: int
    churned: int
    churn_rate: float | None


class DecileRead(BaseModel):
    decile: int = Field(description="1: the highest scores")
    clients: int
    churned: int
    churn_rate: float
    lift: float | None = Field(description="churn_rate / the overall churn rate")


class FlaggedRead(BaseModel):
    """How the at_risk + lost statuses did as a yes/no prediction of churn."""

    clients: int = Field(description="clients at_risk or lost at the cutoff")
    precision: float | None = Field(description="churned among the flagged")
    recall: float | None = Field(description="flagged among the churned")


class SpendParams(BaseModel):
    p: float
    q: float
    gamma: float


class PurchaseParams(BaseModel):
    variant: str = Field(description="mbg_nbd (BG/NBD with a dropout chance at the first order)")
    unit_days: float
    r: float
    alpha: float
    a: float
    b: float


class ModelRead(BaseModel):
    """A fit of the purchase (MBG/NBD) and spend (Gamma-Gamma) models."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": 12,
                    "variant": "mbg_nbd",
                    "purchase": {
                        "variant": "mbg_nbd",
                        "unit_days": 1.0,
                        "r": 0.637,
                        "alpha": 51.17,
                        "a": 0.807,
                        "b": 1.228,
                    },
                    "spend": {"p": 6.28, "q": 3.62, "gamma": 14.98},
                    "n": 23570,
                    "log_likelihood": -141163.2,
                    "converged": True,
                    "iterations": 19,
                    "fit_seconds": 0.031,
                    "fallback_reason": None,
                    "spend_n": 9450,
                    "spend_log_likelihood": -40763.5,
                    "spend_converged": True,
                    "spend_fallback_reason": None,
                    "warnings": [],
                    "as_of": "2026-11-29T03:00:00Z",
                    "fitted_at": "2026-11-29T03:00:02Z",
                    "clients_pending": 0,
                }
            ]
        }
    )

    id: int | None
    variant: str
    purchase: PurchaseParams
    spend: SpendParams
    n: int = Field(description="clients the purchase model was fitted on")
    log_likelihood: float | None
    converged: bool
    iterations: int
    fit_seconds: float
    fallback_reason: str | None = Field(
        description="why the parameters are a documented default rather than this population's "
        "estimate (too few clients, no repeat purchase, no convergence); null when estimated"
    )
    spend_n: int = Field(description="repeat buyers the spend model was fitted on")
    spend_log_likelihood: float | None
    spend_converged: bool
    spend_fallback_reason: str | None
    warnings: list[str]
    as_of: datetime = Field(description="the history it was fitted on ends here")
    fitted_at: datetime
    clients_pending: int | None = Field(
        default=None,
        description="clients with an order not yet re-scored with this fit (the worker spreads "
        "the re-scoring over policy.model_rescore_seconds)",
    )


class RefitRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"as_of": "2026-10-31T23:59:59Z"}]}
    )

    as_of: Moment | None = Field(
        default=None, description="fit on the history up to this moment (default: now)"
    )


class BacktestRead(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cutoff": "1997-09-30T23:59:59Z",
                    "horizon_days": 273,
                    "policy_version": 0,
                    "clients": 23570,
                    "churned": 16512,
                    "churn_rate": 0.7006,
                    "prospects": 0,
                    "auc": {
                        "status": 0.690,
                        "churn_risk": 0.770,
                        "p_alive": 0.700,
                        "signals": 0.614,
                        "lapse": 0.651,
                        "recency": 0.759,
                        "fixed_90_days": 0.671,
                        "expected_orders_90d": 0.765,
                    },
                    "at_risk_and_lost": {"clients": 20577, "precision": 0.757, "recall": 0.943},
                    "by_status": [
                        {"status": "active", "clients": 1991, "churned": 646, "churn_rate": 0.32}
                    ],
                    "lift_by_decile": {"churn_risk": [], "p_alive": []},
                    "model": None,
                    "figures": {},
                    "seconds": 4.2,
                }
            ]
        }
    )

    cutoff: datetime
    horizon_days: int
    policy_version: int
    clients: int = Field(description="clients with an order by the cutoff: the ones evaluated")
    churned: int = Field(description="of them, those with no order within the horizon")
    churn_rate: float | None
    prospects: int = Field(description="clients with events but no order by the cutoff: left out")
    auc: dict[str, float | None] = Field(
        description="area under the ROC curve of each predictor of churn (0.5: a coin): status "
        "(prospect < active < recovered < at_risk < lost), churn_risk, p_alive (lower: more "
        "churn), signals (how many), lapse (days since the last order / the client's at-risk "
        "line: its own cycle's, or the population's), and for reference recency (days since the "
        "last order), "
        "fixed_90_days (no order for 90 days) and expected_orders_90d (the model's)"
    )
    at_risk_and_lost: FlaggedRead
    by_status: list[StatusCount]
    lift_by_decile: dict[str, list[DecileRead]] = Field(
        description="clients sorted by churn_risk (or by p_alive, lowest first), in ten groups"
    )
    model: ModelRead | None = Field(description="the models fitted on the history to the cutoff")
    figures: dict[str, Any] = Field(
        description="the other population figures computed from the history to the cutoff: "
        "market cycles, tier cut points, repeat gaps (the lines' days), RFM cut points"
    )
    seconds: float = Field(description="how long the backtest took")


class TuneRequest(BacktestRequest):
    pass


class ScreenRead(BaseModel):
    status_auc: float | None
    precision: float | None
    recall: float | None


class TuneRead(BaseModel):
    """A proposal: nothing is changed until an admin PATCHes `proposed` into the policy."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "cutoff": "1997-09-30T23:59:59Z",
                    "horizon_days": 273,
                    "current": {"at_risk_cycles": 1.5, "lost_cycles": 3.0},
                    "proposed": {"at_risk_cycles": 2.5, "lost_cycles": 6.0},
                    "candidates_screened": 630,
                    "before": {},
                    "after": {},
                    "changed": False,
                }
            ]
        }
    )

    cutoff: datetime
    horizon_days: int
    current: dict[str, float] = Field(description="the tuned fields as the policy has them")
    proposed: dict[str, float] = Field(
        description="the fields that backtest best: a PATCH /v1/policy body (only the fields "
        "that differ)"
    )
    candidates_screened: int
    best_screen: ScreenRead = Field(
        description="the proposal's status AUC, precision and recall in the screen"
    )
    before: BacktestRead = Field(description="the backtest under the current policy")
    after: BacktestRead = Field(description="the same backtest under the proposed policy")
    changed: bool = Field(default=False, description="always false: tuning changes nothing")
