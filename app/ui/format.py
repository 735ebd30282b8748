"""How the dashboard writes numbers, money, dates and codes: Jinja filters, pure functions."""

from datetime import UTC, date, datetime
from decimal import Decimal

from markupsafe import Markup

DASH = "\u2013"  # an en dash: no value

SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


def number(value: float | int | Decimal | None, places: int = 0) -> str:
    """Thousands separators: 48200 -> 48,200; None -> an en dash."""
    if value is None:
        return DASH
    return f"{value:,.{places}f}"


def money(value: Decimal | float | int | str | None, currency: str = "EUR") -> str:
    """Policy currency and thousands separators: €48,200.00, or `CHF 1,200.00`."""
    if value is None:
        return DASH
    amount = Decimal(str(value))
    text = f"{abs(amount):,.2f}"
    symbol = SYMBOLS.get(currency)
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{text}" if symbol else f"{sign}{currency} {text}"


def percent(value: float | None, places: int = 1) -> str:
    return DASH if value is None else f"{value * 100:.{places}f} %"


def utc_iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def moment(value: datetime | date | None) -> Markup:
    """A <time> element in UTC; ui.js rewrites its text in the browser's time zone and keeps
    UTC in the title (shown on hover). Without JS the UTC text stays."""
    if value is None:
        return Markup(DASH)
    if not isinstance(value, datetime):
        return Markup('<time datetime="{0}">{0}</time>').format(value.isoformat())
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%d %H:%M UTC")
    return Markup('<time datetime="{}" title="{}" data-local>{}</time>').format(
        utc_iso(utc), text, text
    )


def day(value: datetime | date | None) -> Markup:
    """A date only (UTC); ui.js shows the local date, with the UTC moment on hover."""
    if value is None:
        return Markup(DASH)
    if not isinstance(value, datetime):
        return Markup('<time datetime="{0}">{0}</time>').format(value.isoformat())
    utc = value.astimezone(UTC)
    return Markup('<time datetime="{}" title="{}" data-local="date">{}</time>').format(
        utc_iso(utc), utc.strftime("%Y-%m-%d %H:%M UTC"), utc.strftime("%Y-%m-%d")
    )


def words(code: str | None) -> str:
    """`at_risk` -> `at risk`, `return_first` -> `return first`."""
    return DASH if code is None else code.replace("_", " ").replace(".", " ")


def badge(kind: str, value: str | None) -> Markup:
    """A status or tier badge: the word is always there (colour only helps)."""
    if value is None:
        return Markup('<span class="badge badge-none">{}</span>').format(DASH)
    return Markup('<span class="badge {}-{}">{}</span>').format(kind, value, words(value))


def chip(code: str) -> Markup:
    return Markup('<span class="chip chip-{}">{}</span>').format(code, words(code))


def detail(value: object) -> str:
    """A signal's evidence value, readable: numbers rounded, lists joined."""
    if isinstance(value, float):
        return number(value, 1 if abs(value) < 100 else 0)
    if isinstance(value, int) and not isinstance(value, bool):
        return number(value)
    if isinstance(value, list):
        return ", ".join(detail(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{words(str(k))}: {detail(v)}" for k, v in value.items())
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and "T" in value:
        try:
            return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        except ValueError:
            return value
    return str(value)
