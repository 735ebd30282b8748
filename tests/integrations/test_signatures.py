"""The signature check, on its own (no database)."""

from app.integrations.signatures import parse_secrets, sign, verify
from tests.integrations.payloads import signature


def test_sign_is_the_platforms_base64_hmac_sha256() -> None:
    body = b'{"id": 1}'
    assert sign("s3cret", body) == signature("s3cret", body)


def test_any_configured_secret_verifies_during_a_rotation() -> None:
    body = b'{"id": 1}'
    secrets = parse_secrets(" old , new ,")
    assert secrets == ("old", "new")
    assert verify(body, signature("old", body), secrets)
    assert verify(body, signature("new", body), secrets)
    assert not verify(body, signature("other", body), secrets)


def test_a_tampered_body_missing_signature_or_no_secret_fails() -> None:
    body = b'{"id": 1}'
    good = signature("s", body)
    assert not verify(b'{"id": 2}', good, ("s",))
    assert not verify(body, None, ("s",))
    assert not verify(body, "", ("s",))
    assert not verify(body, good, ())
    assert not verify(body, "not base64 ✓", ("s",))
    assert parse_secrets(None) == () and parse_secrets("") == ()
