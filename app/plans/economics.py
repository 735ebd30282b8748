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

Each figure comes with its reason (code and text) for the plan's `decision_reasons`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from app.churn.engine import ClientState
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


def p_return(
    state: ClientState, human_factor: bool, policy: Policy, now: datetime
) -> tuple[Decimal, list[str]]:
    if state.orders_count == 0:
        p = dec(policy.p_return_prospect)
        return p, [f"p_return {rate_text(p)}: no order yet (p_return_prospect)"]
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


def economics(state: ClientState, human_factor: bool, policy: Policy, now: datetime) -> Figures:
    p, p_texts = p_return(state, human_factor, policy, now)
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
