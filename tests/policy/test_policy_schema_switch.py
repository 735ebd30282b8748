"""The policy's switches take true or false only; its numbers refuse true and false."""

import pytest
from pydantic import ValidationError

from app.policy.schemas import SWITCHES, Policy


def test_switches_are_booleans_and_numbers_are_not() -> None:
    assert "repeat_gap_floor_irregular" in SWITCHES
    assert Policy(repeat_gap_floor_irregular=False).repeat_gap_floor_irregular is False
    for not_a_switch in (1, 0, "true", None):
        with pytest.raises(ValidationError):
            Policy.model_validate({"repeat_gap_floor_irregular": not_a_switch})
    with pytest.raises(ValidationError):
        Policy.model_validate({"at_risk_cycles": True})
