"""What winning the client back is worth, and so what it may cost (SPEC §6, economics).

`expected_value = p_return * value * margin_rate`, `max_spend = expected_value *
max_spend_ratio`. All arithmetic is Decimal; policy floats enter through their shortest decimal
form (0.7 is 0.7, not 0.6999…), money is rounded half-up to cents (expected_value first, then
max_spend from the rounded expected_value, so the two shown figures agree).

`p_return` comes from `policy.p_return_bands` by the lapse in cycles — for a `lost` client the
days since it was lost / its cycle (SPEC's example: "lost 40 days ago: 1.3 cycles" → 0.4); a
client not lost yet gets the first band; `p_return_prospect` without orders — then *
`human_factor_multiplier` for a human-factor reason and * `repeat_loss_multiplier` once when the
client was lost before (a loss before the current one).

`margin_rate` is the client's own margin share when its orders in the value window carry a
margin (the engine's `ClientState.window_margin`), else `policy.margin_rate`; with `value_basis:
margin` the value is already a margin, so the rate is 1.

**p_return from evidence.** Once at least `EVIDENCE_MIN_CLIENTS` (30) clients similar to this one
(same tier, market and lapse band: the `p_return_bands` band it falls in, or "not lost") went
through the treatment group of closed campaigns, `p_return` is their observed win-back rate
(returned / members) instead of the band and its multipliers. The rates are data the caller loads
and passes in (`ReturnEvidence`), so this stays pure.

**The population model's P(alive) as a floor.** Without such evidence, when the client has a model
score, `p_return` is at least its P(alive) (MBG/NBD, app.churn.scores): a client the model still
believes alive may well buy again, whatever the band of its lapse says; the bands (and their
multipliers) only lower the chance below that for clients the model has given up on too. The
`p_return` reason says which figure won. Observed win-back rates, when there are enough, stay
first: they measure returns after the very treatment the plan proposes.

Each figure comes with its reason (code and text) for the plan's `decision_reasons`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from app.churn.engine import ClientState
from app.domain import Market, Tier
from app.kit.money import to_money
from app.plans.decision import cycles_since_lost, money_text, reason
from app.plans.schemas import DecisionReason, Economics
from app.policy.schemas import Policy

RATE_PLACES = Decimal("0.0001")
TIMES = "\N{MULTIPLICATION SIGN}"


def dec(value: float | int) -> Decimal:
    """A policy number as the decimal a person reads in it."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def rate_text(value: Decimal) -> str:
    return f"{value.normalize():f}"


@dataclass(frozen=True, slots=True)
class Figures:
    value: Decimal
    margin_rate: Decimal
    p_return: Decimal
    expected_value: Decimal
    max_spend: Decimal
    reasons: list[DecisionReason] = field(default_factory=list)

    def schema(self) -> Economics:
        return Economics(
            value=str(to_money(self.value)),
            margin_rate=float(self.margin_rate),
            p_return=float(self.p_return),
            expected_value=str(self.expected_value),
            max_spend=str(self.max_spend),
        )


# --- p_return from evidence: the observed win-back rate of similar clients ---------------------

EVIDENCE_MIN_CLIENTS = 30
"""How many similar finished treatment members it takes before their rate replaces the band."""


@dataclass(frozen=True, slots=True)
class ObservedReturns:
    """Treatment members of closed campaigns: how many, how many returned (an order within the
    campaign's attribution window), and in how many campaigns."""

    members: int
    returned: int
    campaigns: int


# (tier, market, lapse band): the band is the index of the client's band in
# `policy.p_return_bands` for a lost client, None for a client not lost.
EvidenceKey = tuple[Tier | None, Market, int | None]
ReturnEvidence = Mapping[EvidenceKey, ObservedReturns]


@dataclass(frozen=True, slots=True)
class Evidence:
    """The observed returns of the clients similar to this one, and what made them similar."""

    key: EvidenceKey
    returns: ObservedReturns


def band_bounds(policy: Policy) -> list[float]:
    """The `below_cycles` bounds of the bands (all but the last, which has none)."""
    return [band.below_cycles for band in policy.p_return_bands if band.below_cycles is not None]


def band_of(cycles_since_lost: float | None, policy: Policy) -> int | None:
    """The index of the p_return band a lapse (in cycles since lost) falls in; None: not lost.
    The same buckets as SQL's `width_bucket(cycles, bounds)`."""
    if cycles_since_lost is None:
        return None
    bounds = band_bounds(policy)
    for index, bound in enumerate(bounds):
        if cycles_since_lost < bound:
            return index
    return len(bounds)


def band_text(band: int | None, policy: Policy) -> str:
    """'not lost', 'lost < 2 cycles ago', 'lost 2-4 cycles ago', 'lost ≥ 8 cycles ago'."""
    if band is None:
        return "not lost"
    bounds = band_bounds(policy)
    lower = bounds[band - 1] if band > 0 else None
    upper = bounds[band] if band < len(bounds) else None
    if lower is None and upper is None:
        return "lost"
    if lower is None:
        return f"lost < {upper:g} cycles ago"
    if upper is None:
        return f"lost ≥ {lower:g} cycles ago"
    return f"lost {lower:g}-{upper:g} cycles ago"


def evidence_for(
    evidence: ReturnEvidence | None,
    tier: Tier | None,
    market: Market,
    state: ClientState,
    policy: Policy,
    now: datetime,
) -> Evidence | None:
    """The observed returns of clients like this one, when there are enough of them."""
    if not evidence or state.orders_count == 0:
        return None
    key: EvidenceKey = (tier, market, band_of(cycles_since_lost(state, now), policy))
    returns = evidence.get(key)
    if returns is None or returns.members < EVIDENCE_MIN_CLIENTS:
        return None
    return Evidence(key, returns)


def observed_p_return(found: Evidence, policy: Policy) -> tuple[Decimal, list[str]]:
    returns = found.returns
    tier, market, band = found.key
    p = (Decimal(returns.returned) / Decimal(returns.members)).quantize(RATE_PLACES).normalize()
    campaigns = f"{returns.campaigns} closed campaign{'s' if returns.campaigns != 1 else ''}"
    who = f"tier {tier or '-'}, {market}, {band_text(band, policy)}"
    return p, [
        f"p_return {rate_text(p)}: observed win-back rate of {returns.members} similar clients "
        f"({who}) in the treatment groups of {campaigns}: {returns.returned} returned within "
        f"the attribution window (at least {EVIDENCE_MIN_CLIENTS} needed; replaces "
        "p_return_bands and its multipliers)"
    ]


def p_return(
    state: ClientState,
    human_factor: bool,
    policy: Policy,
    now: datetime,
    evidence: Evidence | None = None,
    p_alive: float | None = None,
) -> tuple[Decimal, list[str]]:
    if state.orders_count == 0:
        p = dec(policy.p_return_prospect)
        return p, [f"p_return {rate_text(p)}: no order yet (p_return_prospect)"]
    if evidence is not None:
        return observed_p_return(evidence, policy)
    lapse = cycles_since_lost(state, now)
    p = dec(policy.p_return_bands[0].p_return)
    texts = [f"p_return {rate_text(p)}: not lost (first of p_return_bands)"]
    if lapse is not None:
        lower: float | None = None
        for band in policy.p_return_bands:
            if band.below_cycles is None or lapse < band.below_cycles:
                p = dec(band.p_return)
                bound = ""
                if band.below_cycles is not None:
                    bound = f" < {band.below_cycles:g}"
                elif lower is not None:
                    bound = f" ≥ {lower:g}"
                texts = [
                    f"p_return {rate_text(p)}: lost {lapse:.2f} cycles ago{bound} (p_return_bands)"
                ]
                break
            lower = band.below_cycles
    if human_factor:
        p *= dec(policy.human_factor_multiplier)
        texts.append(
            f"{TIMES} {policy.human_factor_multiplier:g} for a human-factor reason "
            "(human_factor_multiplier)"
        )
    earlier_losses = state.lost_count - (1 if state.status == "lost" else 0)
    if earlier_losses >= 1:
        p *= dec(policy.repeat_loss_multiplier)
        texts.append(
            f"{TIMES} {policy.repeat_loss_multiplier:g} for a loss before this one "
            "(repeat_loss_multiplier)"
        )
    if len(texts) > 1:
        texts.append(f"= {rate_text(p)}")
    alive = None if p_alive is None else Decimal(repr(round(p_alive, 4))).normalize()
    if alive is not None and alive > p:
        texts.append(
            f"raised to {rate_text(alive)}, the population model's P(alive) (MBG/NBD): a floor, "
            "the model still expects this client may buy again"
        )
        p = alive
    elif alive is not None:
        texts.append(f"(the population model's P(alive) {rate_text(alive)} is lower)")
    return p.normalize(), texts


def margin_rate(state: ClientState, policy: Policy) -> tuple[Decimal, str]:
    if policy.value_basis == "margin":
        return Decimal(1), "margin_rate 1: the value is a margin already (value_basis margin)"
    window = state.window_margin
    if window.orders and window.net > 0:
        rate = min(max(window.margin / window.net, Decimal(0)), Decimal(1)).quantize(RATE_PLACES)
        return rate, (
            f"margin_rate {rate_text(rate)}: the client's own margin on {window.orders} orders "
            f"in the last {policy.value_window_days:g} days"
        )
    rate = dec(policy.margin_rate)
    return rate, f"margin_rate {rate_text(rate)} (policy margin_rate)"


def economics(
    state: ClientState,
    human_factor: bool,
    policy: Policy,
    now: datetime,
    evidence: Evidence | None = None,
    p_alive: float | None = None,
) -> Figures:
    p, p_texts = p_return(state, human_factor, policy, now, evidence, p_alive)
    rate, rate_line = margin_rate(state, policy)
    value = state.value
    expected = to_money(p * value * rate)
    ratio = dec(policy.max_spend_ratio)
    max_spend = to_money(expected * ratio)
    reasons = [
        reason("p_return", " ".join(p_texts)),
        reason("margin_rate", rate_line),
        reason(
            "expected_value",
            f"expected value {money_text(expected)} = p_return {rate_text(p)} {TIMES} value "
            f"{money_text(value)} {TIMES} margin_rate {rate_text(rate)}",
        ),
        reason(
            "max_spend",
            f"max spend {money_text(max_spend)} = expected value {TIMES} max_spend_ratio "
            f"{rate_text(ratio)}",
        ),
    ]
    return Figures(
        value=value,
        margin_rate=rate,
        p_return=p,
        expected_value=expected,
        max_spend=max_spend,
        reasons=reasons,
    )
