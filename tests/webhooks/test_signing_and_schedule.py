"""Pure parts: Standard Webhooks signatures (the specification's test vector, the reference
library), secrets, the retry schedule with jitter, Retry-After, what an answer means."""

import base64
import hashlib
import hmac
import random
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from app.webhooks import schedule, signing

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_the_signature_is_hmac_sha256_of_id_timestamp_body_with_the_decoded_secret() -> None:
    """The specification's construction, spelled out independently of winback's code."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw0aVJ1vJk5eU="
    body = b'{"test": 2432232314}'
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = b"msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + body
    expected = "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    assert signing.signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body) == expected
    reference = Webhook(secret).sign(
        "msg_p5jXN8AQM9LWM0D4loKWxJek", datetime.fromtimestamp(1614265330, UTC), body.decode()
    )
    assert reference == expected


def test_the_reference_library_verifies_what_winback_signs() -> None:
    secret = signing.new_secret()
    body = '{"type":"client.status_changed","data":{"client_id":"Ärger & Söhne"}}'.encode()
    timestamp = int(datetime.now(UTC).timestamp())
    headers = signing.headers("msg_1", timestamp, body, [secret])
    assert Webhook(secret).verify(body, headers)["data"]["client_id"] == "Ärger & Söhne"
    assert headers["webhook-signature"] == Webhook(secret).sign(
        "msg_1", datetime.fromtimestamp(timestamp, UTC), body.decode()
    )


def test_during_a_rotation_either_secret_verifies() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    body = b"{}"
    timestamp = int(datetime.now(UTC).timestamp())
    headers = signing.headers("msg_2", timestamp, body, [new, old])
    assert headers["webhook-signature"].count("v1,") == 2
    Webhook(new).verify(body, headers)
    Webhook(old).verify(body, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(signing.new_secret()).verify(body, headers)
    with pytest.raises(Exception, match="No matching signature"):  # any byte changed
        Webhook(new).verify(b"{ }", headers)


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    secrets = {signing.new_secret() for _ in range(100)}
    assert len(secrets) == 100
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32


def test_the_schedule_is_immediately_5s_5min_30min_2h_5h_10h_10h() -> None:
    assert schedule.DELAYS == (0, 5, 300, 1800, 7200, 18000, 36000, 36000)
    rng = random.Random(1)
    for made, planned in enumerate(schedule.DELAYS[1:], start=1):
        for _ in range(50):
            at = schedule.next_attempt(made, NOW, rng)
            assert at is not None
            assert planned * 0.9 <= (at - NOW).total_seconds() <= planned * 1.1
    assert schedule.next_attempt(8, NOW, rng) is None


def test_jitter_spreads_the_retries() -> None:
    rng = random.Random(2)
    moments = {schedule.next_attempt(2, NOW, rng) for _ in range(100)}
    assert len(moments) > 90


def test_retry_after_never_brings_a_retry_forward() -> None:
    rng = random.Random(3)
    late = schedule.next_attempt(1, NOW, rng, retry_after=600)
    assert late == NOW + timedelta(seconds=600)
    soon = schedule.next_attempt(3, NOW, rng, retry_after=1)
    assert soon is not None and (soon - NOW).total_seconds() >= 1800 * 0.9


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("Mon, 23 Nov 2026 12:02:00 GMT", 120.0),
        ("Mon, 23 Nov 2026 11:00:00 GMT", 0.0),  # in the past: now
        ("999999999", 86400.0),  # at most a day
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
        ("1.5", None),
    ],
)
def test_retry_after_as_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert schedule.retry_after_seconds(value, NOW) == seconds


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (201, "delivered"),
        (204, "delivered"),
        (299, "delivered"),
        (301, "http_error"),
        (400, "http_error"),
        (401, "http_error"),
        (404, "http_error"),
        (410, "gone"),
        (429, "http_error"),
        (500, "http_error"),
        (503, "http_error"),
    ],
)
def test_only_a_2xx_delivers_and_410_means_gone(status: int, outcome: str) -> None:
    assert schedule.outcome_of(status) == outcome
