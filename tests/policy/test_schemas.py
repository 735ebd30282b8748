"""The policy model on its own: every field's bounds (found by introspection, so a new field is
covered without touching this file), the cross-field rules (the later field is the one named),
reason codes and the tier settings."""

import math
from collections.abc import Iterator
from typing import Any

import annotated_types
import pytest
from pydantic import BaseModel, ValidationError

from app.policy.schemas import BASE_REASON_CODES, DEFAULT_POLICY, Policy, ReturnProbabilityBand

BOUND_ERRORS = {
    annotated_types.Gt: ("gt", "greater_than"),
    annotated_types.Ge: ("ge", "greater_than_equal"),
    annotated_types.Lt: ("lt", "less_than"),
    annotated_types.Le: ("le", "less_than_equal"),
}


def errors_of(**fields: Any) -> list[dict[str, Any]]:
    """The validation errors of a policy with these fields (the rest default); [] if valid."""
    try:
        Policy(**fields)
    except ValidationError as error:
        return error.errors()
    return []


def fields_in_error(**fields: Any) -> list[tuple[Any, ...]]:
    return [tuple(e["loc"]) for e in errors_of(**fields)]


# --- bounds, for every bounded field ---


def bounds(model: type[BaseModel]) -> Iterator[tuple[str, str, float, bool]]:
    """(field, kind, bound, is_int) for every gt/ge/lt/le constraint of the model's fields."""
    for name, info in model.model_fields.items():
        for constraint in info.metadata:
            for kind, (attribute, _) in BOUND_ERRORS.items():
                if isinstance(constraint, kind):
                    yield name, attribute, getattr(constraint, attribute), info.annotation is int


def step_out(kind: str, bound: float, is_int: bool) -> float:
    """The nearest value the bound refuses (the next float, or the next integer)."""
    if kind in ("gt", "lt"):
        return bound
    direction = -1 if kind == "ge" else 1
    return bound + direction if is_int else math.nextafter(float(bound), direction * math.inf)


def step_in(kind: str, bound: float, is_int: bool) -> float:
    """The nearest value the bound accepts."""
    if kind in ("ge", "le"):
        return bound
    direction = 1 if kind == "gt" else -1
    return bound + direction if is_int else math.nextafter(float(bound), direction * math.inf)


POLICY_BOUNDS = list(bounds(Policy))
BAND_BOUNDS = list(bounds(ReturnProbabilityBand))


def with_band_field(field: str, value: float) -> dict[str, Any]:
    """A policy whose first p_return band has `field` = value."""
    first = {"below_cycles": 2.0, "p_return": 0.4} | {field: value}
    return {"p_return_bands": [first, {"below_cycles": None, "p_return": 0.05}]}


def bound_errors(errors: list[dict[str, Any]], loc: tuple[Any, ...], kind: str) -> list[Any]:
    error_type = dict(BOUND_ERRORS.values())[kind]
    return [e for e in errors if tuple(e["loc"]) == loc and e["type"] == error_type]


def test_every_numeric_policy_field_has_a_lower_and_an_upper_bound() -> None:
    numeric = [n for n, f in Policy.model_fields.items() if f.annotation in (int, float)]
    bounded: dict[str, set[str]] = {}
    for name, kind, _, _ in POLICY_BOUNDS:
        bounded.setdefault(name, set()).add(kind)
    assert len(numeric) >= 40  # the introspection sees the fields
    unbounded = [
        name
        for name in numeric
        if not bounded.get(name, set()) & {"gt", "ge"} or not bounded[name] & {"lt", "le"}
    ]
    assert not unbounded, f"give these fields both bounds: {unbounded}"


@pytest.mark.parametrize(
    ("field", "kind", "bound", "is_int"),
    POLICY_BOUNDS,
    ids=[f"{name}-{kind}" for name, kind, _, _ in POLICY_BOUNDS],
)
def test_each_policy_bound_refuses_the_nearest_value_outside_it(
    field: str, kind: str, bound: float, is_int: bool
) -> None:
    outside = step_out(kind, bound, is_int)
    errors = errors_of(**{field: outside})
    assert bound_errors(errors, (field,), kind), (outside, errors)
    inside = step_in(kind, bound, is_int)
    assert not bound_errors(errors_of(**{field: inside}), (field,), kind), inside


@pytest.mark.parametrize(
    ("field", "kind", "bound", "is_int"),
    BAND_BOUNDS,
    ids=[f"{name}-{kind}" for name, kind, _, _ in BAND_BOUNDS],
)
def test_each_p_return_band_bound_refuses_the_nearest_value_outside_it(
    field: str, kind: str, bound: float, is_int: bool
) -> None:
    loc = ("p_return_bands", 0, field)
    errors = errors_of(**with_band_field(field, step_out(kind, bound, is_int)))
    assert bound_errors(errors, loc, kind), errors
    assert not errors_of(**with_band_field(field, step_in(kind, bound, is_int)))


# A representative set, written out: the bound itself is a valid policy, one step past is not.
REPRESENTATIVE = [
    # (field, accepted at the edge, refused one step out, other fields the edge needs)
    ("default_cycle_days", 3650, 3650.0000000000005, {}),
    ("min_cycle_days", 3650, 3650.0000000000005, {"max_cycle_days": 3650}),
    ("min_cycle_days", 5e-324, 0, {}),
    ("market_cycle_min_clients", 1, 0, {}),
    ("market_cycle_min_clients", 1_000_000, 1_000_001, {}),
    ("volume_drop_ratio", 1, 1.0000000000000002, {}),
    ("low_score", 0, -5e-324, {}),
    ("low_score", 10, 10.000000000000002, {}),
    ("recovery_watch_days", 0, -5e-324, {}),
    ("max_future_skew_seconds", 30 * 86400, 30 * 86400 + 1e-6, {}),
    ("min_offer_days", 1, 0, {}),
    ("min_offer_days", 365, 366, {"offer_valid_days": 365}),
    ("b2b_letter_after_days", 0, -1, {}),
    ("tier_refresh_seconds", 1, 0.9999999999999999, {}),
    ("compensation_pct", 100, 100.00000000000001, {}),
    ("margin_rate", 0, -5e-324, {}),
]


@pytest.mark.parametrize(("field", "edge", "past", "others"), REPRESENTATIVE)
def test_a_policy_at_a_bound_is_valid_and_one_step_past_it_is_not(
    field: str, edge: float, past: float, others: dict[str, Any]
) -> None:
    assert Policy(**others, **{field: edge}).model_dump()[field] == edge
    assert fields_in_error(**others, **{field: past}) == [(field,)]


# --- cross-field rules: the later field is the one named ---


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"min_cycle_days": 30, "max_cycle_days": 29.9}, "max_cycle_days"),
        ({"at_risk_cycles": 2, "lost_cycles": 2}, "lost_cycles"),
        ({"at_risk_cycles": 2, "lost_cycles": 1.5}, "lost_cycles"),
        ({"at_risk_cycles": 1.5, "recovered_at_risk_cycles": 1.6}, "recovered_at_risk_cycles"),
        ({"min_offer_days": 20, "offer_valid_days": 19}, "offer_valid_days"),
        ({"extra_human_factor_codes": ["late_courier"]}, "extra_human_factor_codes"),
    ],
)
def test_a_cross_field_rule_names_the_later_field(fields: dict[str, Any], named: str) -> None:
    assert fields_in_error(**fields) == [(named,)]


@pytest.mark.parametrize(
    "fields",
    [
        {"min_cycle_days": 30, "max_cycle_days": 30},
        {"at_risk_cycles": 2, "lost_cycles": 2.0000000000000004},
        {"at_risk_cycles": 1.5, "recovered_at_risk_cycles": 1.5},
        {"min_offer_days": 20, "offer_valid_days": 20},
        {"extra_human_factor_codes": ["service_quality", "billing_error"]},
        {
            "extra_reason_codes": {"late_courier": "company"},
            "extra_human_factor_codes": ["late_courier"],
        },
    ],
)
def test_the_edge_of_a_cross_field_rule_is_allowed(fields: dict[str, Any]) -> None:
    Policy(**fields)


def test_a_cross_field_rule_is_not_applied_against_an_invalid_earlier_field() -> None:
    # min_cycle_days is itself out of range: only it is reported, max_cycle_days is not blamed
    assert fields_in_error(min_cycle_days=5000, max_cycle_days=365) == [("min_cycle_days",)]


def test_extra_human_factor_codes_join_the_base_ones() -> None:
    policy = Policy(
        extra_reason_codes={"late_courier": "company"}, extra_human_factor_codes=["late_courier"]
    )
    assert policy.human_factor_codes == DEFAULT_POLICY.human_factor_codes | {"late_courier"}
    assert policy.reason_codes == BASE_REASON_CODES | {"late_courier": "company"}


# --- p_return bands ---


def band(below: float | None, p: float) -> dict[str, Any]:
    return {"below_cycles": below, "p_return": p}


@pytest.mark.parametrize(
    "bands",
    [
        [],
        [band(2, 0.4)],  # the last band must be open
        [band(2, 0.4), band(4, 0.2)],
        [band(4, 0.25), band(2, 0.4), band(None, 0.05)],  # not increasing
        [band(None, 0.4), band(2, 0.25), band(None, 0.05)],  # an open band before the last
    ],
)
def test_p_return_bands_must_increase_and_end_open(bands: list[dict[str, Any]]) -> None:
    assert fields_in_error(p_return_bands=bands) == [("p_return_bands",)]


def test_a_single_open_band_is_a_valid_p_return_table() -> None:
    policy = Policy(p_return_bands=[band(None, 0.1)])
    assert [b.p_return for b in policy.p_return_bands] == [0.1]


def test_a_p_return_band_refuses_unknown_keys() -> None:
    bands = [band(2, 0.4) | {"p": 1}, band(None, 0.05)]
    assert fields_in_error(p_return_bands=bands) == [("p_return_bands", 0, "p")]


def test_an_infinite_band_bound_is_refused() -> None:
    """JSON cannot store infinity: PUT /v1/policy with below_cycles 1e999 would be a 500."""
    bands = [band(math.inf, 0.4), band(None, 0.05)]
    assert fields_in_error(p_return_bands=bands) == [("p_return_bands", 0, "below_cycles")]


def test_band_bounds_must_strictly_increase() -> None:
    """A band with the same bound as the one before it could never apply."""
    bands = [band(2, 0.4), band(2, 0.25), band(None, 0.05)]
    assert fields_in_error(p_return_bands=bands) == [("p_return_bands",)]


# --- tiers ---


@pytest.mark.parametrize(
    "cutoffs", [(0.95, 0.75), (0.5, 0.5), (0, 0.5), (-0.1, 0.5), (0.5, 1.0000000000000002)]
)
def test_tier_cutoffs_must_be_increasing_within_zero_and_one(
    cutoffs: tuple[float, float],
) -> None:
    assert fields_in_error(tier_cutoffs=cutoffs) == [("tier_cutoffs",)]


@pytest.mark.parametrize("cutoffs", [(0.5, 1.0), (5e-324, 1e-300), (0.75, 0.95)])
def test_tier_cutoffs_inside_the_unit_interval_are_accepted(cutoffs: tuple[float, float]) -> None:
    assert Policy(tier_cutoffs=cutoffs).tier_cutoffs == cutoffs


def test_tier_scope_is_market_or_global() -> None:
    assert Policy().tier_scope == "market"
    assert Policy(tier_scope="global").tier_scope == "global"
    assert fields_in_error(tier_scope="country") == [("tier_scope",)]
    assert fields_in_error(tier_scope="Global") == [("tier_scope",)]


# --- reason codes ---


@pytest.mark.parametrize(
    "code", ["late delivery", "price-hike", "", "x" * 65, "_", "dot.code", "slash/code"]
)
def test_an_extra_reason_code_must_be_letters_digits_or_underscores(code: str) -> None:
    assert fields_in_error(extra_reason_codes={code: "company"}) == [("extra_reason_codes",)]


@pytest.mark.parametrize("code", ["late_courier", "x" * 64, "a", "Late_Delivery_2", "_x_"])
def test_a_well_formed_extra_reason_code_is_accepted(code: str) -> None:
    assert Policy(extra_reason_codes={code: "external"}).reason_codes[code] == "external"


def test_an_extra_reason_code_needs_a_known_group() -> None:
    errors = errors_of(extra_reason_codes={"late_courier": "weather"})
    assert [(tuple(e["loc"]), e["type"]) for e in errors] == [
        (("extra_reason_codes", "late_courier"), "literal_error")
    ]


# --- the rest of the shape ---


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "eur"),
        ("currency", "EURO"),
        ("market", "b2g"),
        ("value_basis", "profit"),
        ("lost_cycle", 4),  # a misspelt field is refused, not silently ignored
    ],
)
def test_other_fields_refuse_values_outside_their_set(field: str, value: Any) -> None:
    assert fields_in_error(**{field: value}) == [(field,)]


def test_the_default_policy_is_valid_and_survives_its_stored_json_form() -> None:
    stored = DEFAULT_POLICY.model_dump(mode="json")
    assert Policy.model_validate(stored) == DEFAULT_POLICY
    changed = Policy(lost_cycles=4, extra_reason_codes={"late_courier": "company"})
    assert Policy.model_validate(changed.model_dump(mode="json")) == changed


def test_a_cross_field_rule_holds_against_a_default_too() -> None:
    """PUT {"at_risk_cycles": 5} leaves lost_cycles at its default 3: refused, not stored (a
    stored policy that breaks its own rules made every later read a 422)."""
    assert fields_in_error(at_risk_cycles=5) == [("lost_cycles",)]
    assert fields_in_error(min_offer_days=116) == [("offer_valid_days",)]


@pytest.mark.parametrize("field", ["repeat_loss_multiplier", "max_losses", "at_risk_cycles"])
def test_true_or_false_is_not_a_policy_number(field: str) -> None:
    assert fields_in_error(**{field: False}) == [(field,)]
