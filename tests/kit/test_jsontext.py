"""JSONB text in and out: orjson where it gives what the json module gives, json for the rest."""

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.kit.jsontext import dumps, loads

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(), inner)),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_read_back_as_the_json_module_reads_it(document: Any) -> None:
    text = json.dumps(document)
    read = loads(text)
    assert read == json.loads(text)
    assert type(read) is type(json.loads(text))
    assert json.loads(dumps(document)) == document


def test_integers_beyond_64_bits_stay_exact() -> None:
    # orjson alone reads these as floats (1e+29): an attribute would come back changed
    for number in (10**29, -(2**63) - 1, 2**64, 12345678901234567890123):
        read = loads(json.dumps({"n": number, "list": [number]}))
        assert read == {"n": number, "list": [number]}
        assert type(read["n"]) is int
