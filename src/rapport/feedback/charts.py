"""A small trend chart drawn on the server as SVG: works without JavaScript and under CSP."""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from rapport.feedback.queries import Result

WIDTH, HEIGHT, PAD = 640, 220, 36


def trend_svg(rows: Sequence[Result], *, percent: bool) -> SafeString:
    """Score per month with its 95% interval as a band; hollow dots mark small samples."""
    points = [r for r in rows if r.score is not None]
    if not points:
        return mark_safe("")
    low, high = (-100.0, 100.0) if percent else (1.0, 7.0)
    if percent and all((r.low or 0) >= 0 for r in points):
        low = 0.0
    step = (WIDTH - 2 * PAD) / max(len(points) - 1, 1)

    def y(v: float) -> float:
        return HEIGHT - PAD - (min(max(v, low), high) - low) / (high - low) * (HEIGHT - 2 * PAD)

    xs = [PAD + i * step for i in range(len(points))]
    band = [f"{x:.1f},{y(r.high or 0):.1f}" for x, r in zip(xs, points, strict=True)]
    band += [f"{x:.1f},{y(r.low or 0):.1f}" for x, r in reversed(list(zip(xs, points, strict=True)))]
    line = " ".join(f"{x:.1f},{y(r.score or 0):.1f}" for x, r in zip(xs, points, strict=True))
    parts = [
        f'<svg class="trend" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="trend-title">',
        '<title id="trend-title">Score by month with its 95% interval</title>',
        f'<line x1="{PAD}" y1="{y(low):.1f}" x2="{WIDTH - PAD}" y2="{y(low):.1f}" stroke="#999"/>',
        f'<text x="2" y="{y(high) + 4:.1f}" font-size="11">{high:g}</text>',
        f'<text x="2" y="{y(low) + 4:.1f}" font-size="11">{low:g}</text>',
        f'<polygon points="{" ".join(band)}" fill="#2b6cb0" fill-opacity="0.15"/>',
        f'<polyline points="{line}" fill="none" stroke="#2b6cb0" stroke-width="2"/>',
    ]
    for x, r in zip(xs, points, strict=True):
        fill = "#fff" if r.small_sample else "#2b6cb0"
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y(r.score or 0):.1f}" r="4" fill="{fill}" stroke="#2b6cb0">'
            f"<title>{escape(r.label)}: {r.score} (n={r.n})</title></circle>"
        )
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - 10}" font-size="10" text-anchor="middle">{escape(str(r.key))}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped labels only
