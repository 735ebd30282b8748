"""The reason to return (SPEC §6, offer).

Components, each only when it applies:
- `guarantee` that the problem will not recur — only when it is fixed: there is a complaint about
  this episode and every such complaint is resolved;
- `personal_control` by a named senior person — every B2B win-back; any plan where the client is
  dissatisfied or the reason is a human factor;
- `compensation` for a problem order — `compensation_pct` % of that order's amount (the
  complaint's `amount_at_issue`, else the amount of its `order_id`), never a percent of the next
  order, capped by `max_spend`; one, for the most recent complaint that names an amount;
- `special_terms` (price, delivery, payment) — every win-back; in retention for a lapse or for
  requests not converting;
- `price_lock` conditional on volume — retention with a volume drop;
- `discount` of at most `max_discount_pct` % — B2C win-backs (the promo code) and
  competitor-group diagnoses;
- `something_new` — every win-back (what changed since the client left);
- `gift` — a B2B win-back of a tier A client (it comes with the director's letter).
Every offer is time-limited: `valid_days` = `offer_valid_days`, never below `min_offer_days`.
"""

from __future__ import annotations

from decimal import Decimal

from app.churn.engine import ClientState
from app.churn.facts import ClientFacts
from app.domain import WIN_BACK_DECISIONS, Decision
from app.kit.money import to_money
from app.plans.decision import money_text
from app.plans.diagnosis import Finding
from app.plans.economics import Figures, dec
from app.plans.profile import ClientProfile
from app.plans.schemas import Offer, OfferComponent
from app.policy.schemas import Policy


def valid_days(policy: Policy) -> int:
    return max(policy.offer_valid_days, policy.min_offer_days)


def compensation(
    finding: Finding, facts: ClientFacts, figures: Figures, policy: Policy
) -> OfferComponent | None:
    """A credit of compensation_pct % of the problem order's amount, capped by max_spend."""
    for complaint in finding.complaints:
        if complaint.amount_at_issue is not None:
            base = complaint.amount_at_issue
            what = f"{money_text(base)} at issue in complaint {complaint.feedback_id}"
            if complaint.order_id:
                what += f" (order {complaint.order_id})"
        elif complaint.order_id and complaint.order_id in facts.orders:
            order = facts.orders[complaint.order_id]
            if order.placed_at is None:
                continue
            base = order.amount
            what = f"order {complaint.order_id} ({money_text(base)})"
        else:
            continue
        pct = policy.compensation_pct
        raw = to_money(base * dec(pct) / Decimal(100))
        amount = min(raw, figures.max_spend)
        if amount <= 0:
            return None
        basis = f"{pct:g}% of {what}"
        if amount < raw:
            basis += f"; {money_text(raw)} capped by max_spend {money_text(figures.max_spend)}"
        return OfferComponent(
            kind="compensation",
            text=f"a credit of {pct:g}% (compensation_pct) of the problem order, "
            "not a percent of the next one",
            amount=str(amount),
            basis=basis,
        )
    return None


def build_offer(
    profile: ClientProfile,
    state: ClientState,
    facts: ClientFacts,
    finding: Finding,
    figures: Figures,
    decision: Decision,
    policy: Policy,
) -> Offer | None:
    win_back = decision in WIN_BACK_DECISIONS
    if not win_back and decision != "retain":
        return None
    signals = set(state.signal_codes)
    diagnosis = finding.diagnosis
    days = valid_days(policy)
    parts: list[OfferComponent] = []

    complaints = finding.complaints
    if complaints and all(c.resolved_at is not None for c in complaints):
        ids = ", ".join(c.feedback_id for c in complaints)
        parts.append(
            OfferComponent(
                kind="guarantee",
                text=f"a written guarantee that the problem will not recur (fixed: {ids})",
            )
        )
    if (
        (win_back and profile.market == "b2b")
        or "dissatisfied" in signals
        or diagnosis.human_factor
    ):
        parts.append(
            OfferComponent(
                kind="personal_control",
                text="personal control of the account by a named senior person",
            )
        )
    credit = compensation(finding, facts, figures, policy)
    if credit is not None:
        parts.append(credit)

    if win_back:
        parts.append(
            OfferComponent(
                kind="special_terms",
                text="special terms for the client: price, delivery or payment",
            )
        )
    else:
        if "lapsed" in signals:
            parts.append(
                OfferComponent(
                    kind="special_terms",
                    text="an individual offer, with a reminder of the bonuses and services "
                    "the client has earned",
                )
            )
        if "requests_not_converting" in signals:
            parts.append(
                OfferComponent(
                    kind="special_terms",
                    text="an offer compiled for this client's requests: price, delivery, payment",
                )
            )
        drop = next((s for s in state.signals if s.code == "volume_drop"), None)
        if drop is not None:
            parts.append(
                OfferComponent(
                    kind="price_lock",
                    text="a price lock for a period, conditional on the previous volume "
                    f"({drop.detail['previous_mean']} per order)",
                )
            )

    if policy.max_discount_pct > 0 and (
        (win_back and profile.market == "b2c") or diagnosis.group == "competitor"
    ):
        parts.append(
            OfferComponent(
                kind="discount",
                text=f"a discount of at most {policy.max_discount_pct:g}% (max_discount_pct), "
                f"valid {days} days (min_offer_days {policy.min_offer_days})",
            )
        )
    if win_back:
        parts.append(
            OfferComponent(
                kind="something_new",
                text="what is new since the client left: products, service, terms",
            )
        )
        if profile.market == "b2b" and profile.tier == "A":
            parts.append(
                OfferComponent(kind="gift", text="a gift with the director's letter (tier A)")
            )
    if not parts:
        return None
    return Offer(components=parts, max_discount_pct=policy.max_discount_pct, valid_days=days)
