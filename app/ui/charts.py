"""Charts as server-rendered inline SVG: no script, no library, readable without JS.

Each function takes plain data and returns markup (every text escaped). A chart is an
`<svg role="img">` with a <title>; the pages put the same figures in a table beside it.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH = 640


def _svg(height: int, label: str, body: list[str], width: int = WIDTH) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(label)}</title>"
    )
    return Markup(head + "".join(body) + "</svg>")


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "axis") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{escape(text)}</text>'
    )


def columns(
    points: Sequence[tuple[str, float | None]], label: str, value_text: str = "{:.1%}"
) -> Markup:
    """Vertical bars (e.g. churn rate by month); a missing value is a gap marked `n/a`."""
    height, top, bottom, left = 220, 20, 40, 8
    plot = height - top - bottom
    values = [v for _, v in points if v is not None]
    peak = max(values, default=0) or 1.0
    slot = (WIDTH - 2 * left) / max(len(points), 1)
    body = [
        f'<line x1="{left}" y1="{top + plot}" x2="{WIDTH - left}" y2="{top + plot}" '
        'class="baseline"/>'
    ]
    for i, (name, value) in enumerate(points):
        x = left + i * slot
        if value is None:
            body.append(_text(x + slot / 2, top + plot - 4, "n/a", "middle"))
        else:
            h = plot * value / peak
            body.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{top + plot - h:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" class="bar">'
                f"<title>{escape(name)}: {escape(value_text.format(value))}</title></rect>"
            )
            body.append(_text(x + slot / 2, top + plot - h - 4, value_text.format(value), "middle"))
        body.append(_text(x + slot / 2, height - bottom + 16, name, "middle"))
    return _svg(height, label, body)


def bars(rows: Sequence[tuple[str, Decimal, str]], label: str) -> Markup:
    """Horizontal bars, largest first as given: (name, value, value as text)."""
    row_h, left, right = 26, 190, 120
    height = max(len(rows), 1) * row_h + 10
    peak = max((float(v) for _, v, _ in rows), default=0) or 1.0
    span = WIDTH - left - right
    body = []
    for i, (name, value, text) in enumerate(rows):
        y = 5 + i * row_h
        w = max(span * float(value) / peak, 1)
        body.append(_text(left - 8, y + 17, name, "end", "label"))
        body.append(
            f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="{row_h - 8}" class="bar">'
            f"<title>{escape(name)}: {escape(text)}</title></rect>"
        )
        body.append(_text(left + w + 6, y + 17, text, "start", "label"))
    if not rows:
        body.append(_text(WIDTH / 2, 20, "nothing lost in this window", "middle"))
    return _svg(height, label, body)


@dataclass(frozen=True)
class Timeline:
    """A client's purchases and lines, for `purchase_timeline`."""

    orders: Sequence[tuple[datetime, Decimal]]  # purchase occasions: when, amount
    now: datetime
    expected_next: datetime | None
    at_risk_at: datetime | None
    lost_at: datetime | None
    money: str  # how the largest amount is written, for the axis


def purchase_timeline(data: Timeline, label: str) -> Markup:
    """Orders as points (height by amount), the expected next order, the at-risk and lost lines
    and today, on one time axis."""
    height, top, bottom, left, right = 240, 28, 46, 16, 16
    plot = height - top - bottom
    moments = [t for t, _ in data.orders] + [data.now]
    moments += [t for t in (data.expected_next, data.at_risk_at, data.lost_at) if t]
    start, end = min(moments), max(moments)
    span = (end - start).total_seconds() or 86400.0
    width = WIDTH - left - right

    def x(moment: datetime) -> float:
        return left + width * (moment - start).total_seconds() / span

    peak = max((float(a) for _, a in data.orders), default=0) or 1.0
    body = [
        f'<line x1="{left}" y1="{top + plot}" x2="{WIDTH - right}" y2="{top + plot}" '
        'class="baseline"/>',
        _text(left, height - 8, start.strftime("%Y-%m-%d"), "start"),
        _text(WIDTH - right, height - 8, end.strftime("%Y-%m-%d"), "end"),
        _text(left, 14, f"largest order {data.money}", "start"),
    ]
    lines = (
        (data.expected_next, "expected", "expected next order"),
        (data.at_risk_at, "at-risk", "at risk"),
        (data.lost_at, "lost", "lost"),
        (data.now, "now", "today"),
    )
    for i, (moment, cls, name) in enumerate(lines):
        if moment is None:
            continue
        px = x(moment)
        body.append(
            f'<line x1="{px:.1f}" y1="{top - 6}" x2="{px:.1f}" y2="{top + plot}" '
            f'class="mark mark-{cls}"><title>{escape(name)}: '
            f"{moment.strftime('%Y-%m-%d')}</title></line>"
        )
        anchor = "end" if px > WIDTH * 0.8 else "start"
        dx = -4 if anchor == "end" else 4
        body.append(_text(px + dx, top + plot + 14 + 11 * (i % 2), name, anchor, f"mark-{cls}"))
    for moment, amount in data.orders:
        cy = top + plot - plot * 0.9 * float(amount) / peak
        body.append(
            f'<circle cx="{x(moment):.1f}" cy="{cy:.1f}" r="4" class="order">'
            f"<title>order {moment.strftime('%Y-%m-%d')}: {float(amount):,.2f}</title></circle>"
        )
    return _svg(height, label, body)


def interval(difference: float, low: float, high: float, label: str) -> Markup:
    """An uplift with its 95 % interval on a percentage-point axis through zero."""
    height, left, right = 90, 40, 40
    reach = max(abs(low), abs(high), abs(difference), 0.01) * 1.15
    width = WIDTH - left - right

    def x(value: float) -> float:
        return left + width * (value + reach) / (2 * reach)

    mid = 40
    body = [
        f'<line x1="{left}" y1="{mid}" x2="{WIDTH - right}" y2="{mid}" class="baseline"/>',
        f'<line x1="{x(0):.1f}" y1="{mid - 22}" x2="{x(0):.1f}" y2="{mid + 22}" class="zero"/>',
        _text(x(0), mid + 36, "0", "middle"),
        _text(left, mid + 36, f"{-reach * 100:+.1f} pp", "start"),
        _text(WIDTH - right, mid + 36, f"{reach * 100:+.1f} pp", "end"),
        f'<line x1="{x(low):.1f}" y1="{mid}" x2="{x(high):.1f}" y2="{mid}" class="ci"/>',
        f'<line x1="{x(low):.1f}" y1="{mid - 9}" x2="{x(low):.1f}" y2="{mid + 9}" class="ci"/>',
        f'<line x1="{x(high):.1f}" y1="{mid - 9}" x2="{x(high):.1f}" y2="{mid + 9}" class="ci"/>',
        f'<circle cx="{x(difference):.1f}" cy="{mid}" r="6" class="estimate"/>',
        _text(x(difference), mid - 14, f"{difference * 100:+.1f} pp", "middle", "label"),
    ]
    return _svg(height, label, body)
