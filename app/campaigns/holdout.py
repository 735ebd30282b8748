"""Who is held out: a stable hash of (campaign, client), no random draw.

The same campaign id and client id always give the same answer, on any machine and in any
Python, so a preview and the campaign created with the id it returned split the segment the
same way, and re-running the split of a stored campaign reproduces it. Over many clients the
share held out converges on `holdout_pct` (SHA-256 spreads the ids evenly).
"""

import hashlib

_SCALE = float(2**64)


def fraction(campaign_id: str, client_id: str) -> float:
    """A number in [0, 1) fixed by the pair: the first 8 bytes of SHA-256("campaign\\nclient")."""
    digest = hashlib.sha256(f"{campaign_id}\n{client_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def in_holdout(campaign_id: str, client_id: str, holdout_pct: float) -> bool:
    """True when the client is in the campaign's holdout (gets no touches)."""
    return fraction(campaign_id, client_id) * 100 < holdout_pct
