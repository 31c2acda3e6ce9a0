"""Inline SVG charts for the dashboard's pages: stacked bars of failures per bucket over time and a small
trend line per bucket. Plain markup (no script): a bar's <title> is its tooltip. Labels are escaped here."""

from collections.abc import Sequence
from html import escape

# Distinct on white and for the common kinds of colour blindness (Okabe-Ito, then Tableau's).
_PALETTE = (
    "#D55E00",
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#7F7F7F",
    "#8C564B",
    "#BCBD22",
    "#17BECF",
)


def palette(buckets: Sequence[str]) -> dict[str, str]:
    """A colour per bucket, in the order given (the configured rules first, so a bucket keeps its colour)."""
    return {bucket: _PALETTE[index % len(_PALETTE)] for index, bucket in enumerate(buckets)}


def stacked_bars(
    labels: Sequence[str], series: dict[str, list[int]], colors: dict[str, str], width: int = 960, height: int = 170
) -> str:
    """One bar per slot (labels), stacked by bucket (series: bucket -> count per slot)."""
    totals = [sum(counts[slot] for counts in series.values()) for slot in range(len(labels))]
    top = max(totals, default=0) or 1
    left, bottom, plot_height = 34, 20, height - 28
    step = (width - left) / max(len(labels), 1)
    bar = max(step * 0.8, 1.0)
    parts = [
        f"<svg class=chart viewBox='0 0 {width} {height}' role=img aria-label='failures per bucket over time'>",
        f"<text x=0 y=12 class=axis>{top}</text><text x=0 y={plot_height + 8} class=axis>0</text>",
        f"<line x1={left} y1={plot_height + 8} x2={width} y2={plot_height + 8} class=base />",
    ]
    every = max(1, round(len(labels) / 12))
    for slot, label in enumerate(labels):
        x = left + slot * step
        y = plot_height + 8.0
        for bucket, counts in series.items():
            if counts[slot]:
                h = counts[slot] / top * plot_height
                y -= h
                parts.append(
                    f"<rect x={x:.1f} y={y:.1f} width={bar:.1f} height={h:.1f} fill='{colors.get(bucket, '#999')}'>"
                    f"<title>{escape(bucket)}: {counts[slot]} ({escape(label)})</title></rect>"
                )
        if slot % every == 0:
            parts.append(f"<text x={x:.1f} y={height - bottom + 16} class=axis>{escape(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def trend(counts: Sequence[int], color: str, width: int = 140, height: int = 28) -> str:
    """A small line of counts per slot (oldest first), scaled to its own maximum."""
    top = max(counts, default=0) or 1
    step = width / max(len(counts) - 1, 1)
    points = " ".join(
        f"{index * step:.1f},{height - 2 - count / top * (height - 4):.1f}" for index, count in enumerate(counts)
    )
    return (
        f"<svg class=trend viewBox='0 0 {width} {height}' width={width} height={height} role=img "
        f"aria-label='failures per day'><polyline fill=none stroke='{color}' stroke-width=2 points='{points}' /></svg>"
    )
