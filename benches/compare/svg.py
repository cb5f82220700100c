"""Just enough SVG for the performance page: a bar chart of ratios and log-log line charts
(Python 3 stdlib only, so the comparison needs no plotting crate or package).

The output is deterministic for the same data: re-running the comparison changes a plot
only when a figure changed.
"""

import math
from xml.sax.saxutils import escape

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]
FONT = 'font-family="sans-serif"'


def _fmt(value):
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    if value >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def _log_ticks(low, high):
    """Powers of ten (and 2 and 5 times them when the range is narrow) within the range."""
    ticks = []
    for exponent in range(math.floor(math.log10(low)) - 1, math.ceil(math.log10(high)) + 1):
        for mantissa in (1, 2, 5):
            value = mantissa * 10 ** exponent
            if low <= value <= high:
                ticks.append(value)
    if len(ticks) > 8:
        ticks = [t for t in ticks if f"{t:.0e}".startswith("1")]
    return ticks


def ratio_bars(title, rows, note):
    """Horizontal bars of ours/reference ratios on a log axis with the 1x line marked.
    `rows` is a list of (label, ratio)."""
    width, bar, gap, left, right, top = 760, 16, 6, 300, 60, 48
    height = top + len(rows) * (bar + gap) + 56
    ratios = [ratio for _, ratio in rows] + [1.0]
    low = 10 ** math.floor(math.log10(min(ratios) * 0.9))
    high = 10 ** math.ceil(math.log10(max(ratios) * 1.1))
    span = math.log10(high) - math.log10(low)

    def x(value):
        return left + (math.log10(value) - math.log10(low)) / span * (width - left - right)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" {FONT} font-size="15">'
           f'{escape(title)}</text>']
    axis_y = top + len(rows) * (bar + gap)
    for tick in _log_ticks(low, high):
        out.append(f'<line x1="{x(tick):.1f}" y1="{top - 4}" x2="{x(tick):.1f}" y2="{axis_y}" '
                   f'stroke="#ddd"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{axis_y + 16}" text-anchor="middle" {FONT} '
                   f'font-size="11">{_fmt(tick)}×</text>')
    for index, (label, ratio) in enumerate(rows):
        y = top + index * (bar + gap)
        colour = COLOURS[0] if ratio <= 1 else COLOURS[1]
        start, end = sorted((x(1.0), x(ratio)))
        out.append(f'<text x="{left - 8}" y="{y + bar - 4}" text-anchor="end" {FONT} '
                   f'font-size="12">{escape(label)}</text>')
        out.append(f'<rect x="{start:.1f}" y="{y}" width="{max(end - start, 1):.1f}" '
                   f'height="{bar}" fill="{colour}"/>')
        anchor, pos = ("start", end + 4) if ratio >= 1 else ("end", start - 4)
        out.append(f'<text x="{pos:.1f}" y="{y + bar - 4}" text-anchor="{anchor}" {FONT} '
                   f'font-size="11">{_fmt(ratio)}×</text>')
    out.append(f'<line x1="{x(1.0):.1f}" y1="{top - 8}" x2="{x(1.0):.1f}" y2="{axis_y}" '
               f'stroke="black" stroke-width="1.5"/>')
    out.append(f'<text x="{width / 2}" y="{height - 12}" text-anchor="middle" {FONT} '
               f'font-size="11">{escape(note)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _panel(out, x0, y0, w, h, series, x_label, y_label, x_fmt, colours):
    """One log-log panel at (x0, y0) of size w×h. `series` is [(name, [(x, y), ...])];
    `colours` maps each name to its colour (the same in both panels and the legend)."""
    xs = [px for _, points in series for px, _ in points]
    ys = [py for _, points in series for _, py in points if py > 0]
    x_low, x_high = min(xs), max(xs)
    y_low, y_high = min(ys) / 1.5, max(ys) * 1.5
    x_span = max(math.log10(x_high) - math.log10(x_low), 1e-9)
    y_span = math.log10(y_high) - math.log10(y_low)

    def px(value):
        return x0 + (math.log10(value) - math.log10(x_low)) / x_span * w

    def py(value):
        return y0 + h - (math.log10(value) - math.log10(y_low)) / y_span * h

    out.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>')
    for tick in _log_ticks(y_low, y_high):
        out.append(f'<line x1="{x0}" y1="{py(tick):.1f}" x2="{x0 + w}" y2="{py(tick):.1f}" '
                   f'stroke="#eee"/>')
        out.append(f'<text x="{x0 - 6}" y="{py(tick) + 4:.1f}" text-anchor="end" {FONT} '
                   f'font-size="10">{_fmt(tick)}</text>')
    for value in sorted(set(xs)):
        out.append(f'<text x="{px(value):.1f}" y="{y0 + h + 14}" text-anchor="middle" {FONT} '
                   f'font-size="10">{escape(x_fmt(value))}</text>')
    out.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 32}" text-anchor="middle" {FONT} '
               f'font-size="11">{escape(x_label)}</text>')
    out.append(f'<text x="{x0 - 44}" y="{y0 + h / 2}" text-anchor="middle" {FONT} '
               f'font-size="11" transform="rotate(-90 {x0 - 44} {y0 + h / 2})">'
               f'{escape(y_label)}</text>')
    for name, points in series:
        colour = colours[name]
        points = [(a, b) for a, b in sorted(points) if b > 0]
        path = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in points)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for a, b in points:
            out.append(f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="3" fill="{colour}"/>')


def scaling(title, time_series, memory_series, x_label, x_fmt, note):
    """Two log-log panels side by side: time against size, and peak RSS against size."""
    width, height = 900, 380
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" {FONT} font-size="15">'
           f'{escape(title)}</text>']
    names = [name for name, _ in time_series]
    for name, _ in memory_series:
        if name not in names:
            names.append(name)
    colours = {name: COLOURS[index % len(COLOURS)] for index, name in enumerate(names)}
    _panel(out, 80, 50, 330, 230, time_series, x_label, "time (ms, log)", x_fmt, colours)
    _panel(out, 540, 50, 330, 230, memory_series, x_label, "peak RSS (MiB, log)", x_fmt,
           colours)
    for index, name in enumerate(names):
        colour = COLOURS[index % len(COLOURS)]
        lx = 80 + (index % 4) * 200
        ly = 330 + (index // 4) * 16
        out.append(f'<line x1="{lx}" y1="{ly - 4}" x2="{lx + 18}" y2="{ly - 4}" '
                   f'stroke="{colour}" stroke-width="3"/>')
        out.append(f'<text x="{lx + 24}" y="{ly}" {FONT} font-size="11">{escape(name)}</text>')
    out.append(f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle" {FONT} '
               f'font-size="10">{escape(note)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
