"""Plotly figures of survey results, built with the plotly Python package from the results document.

Each function returns a figure as a plain JSON-able dict (``{"data": [...], "layout": {...}}``);
the page embeds it with ``json_script`` and ``static/js/survey_results.js`` draws it with
``Plotly.newPlot`` (no inline script: the Content-Security-Policy forbids them). Every chart
has a table beside it with the same numbers, for readers without JavaScript.

* Likert questions and matrices: diverging stacked bars. Each bar is one statement; the points
  below the middle of the scale go left of zero, those above go right, and the middle point
  (odd scales) is split across zero. The statement's label gives the share of the top two
  points (4-5 on a 1-5 scale).
* Single and multiple choice: horizontal bars of counts, the percentage on each bar.
* The response rate per invitation batch and the responses per day (bars, running total line).
"""

from __future__ import annotations

import json
import math

import plotly.graph_objects as go
import plotly.io as pio

# Diverging palette (ColorBrewer RdBu, colour-blind safe), from strong disagreement to strong agreement.
DIVERGING = {
    2: ["#ef8a62", "#67a9cf"],
    3: ["#ef8a62", "#f7f7f7", "#67a9cf"],
    4: ["#ca0020", "#f4a582", "#92c5de", "#0571b0"],
    5: ["#ca0020", "#f4a582", "#e0e0e0", "#92c5de", "#0571b0"],
    6: ["#b2182b", "#ef8a62", "#fddbc7", "#d1e5f0", "#67a9cf", "#2166ac"],
    7: ["#b2182b", "#ef8a62", "#fddbc7", "#f7f7f7", "#d1e5f0", "#67a9cf", "#2166ac"],
}
BAR = "#2c6e9b"
FONT = {"family": "system-ui, sans-serif", "size": 13}


def _as_dict(fig: go.Figure) -> dict:
    return json.loads(pio.to_json(fig, validate=True, remove_uids=True))


def _layout(fig: go.Figure, *, height: int, **extra) -> None:
    fig.update_layout(
        height=height,
        margin={"l": 10, "r": 10, "t": 10, "b": 40},
        font=FONT,
        paper_bgcolor="rgba(0,0,0,0)",
        plot_bgcolor="rgba(0,0,0,0)",
        **extra,
    )
    fig.update_yaxes(automargin=True)


def _palette(n: int) -> list[str]:
    if n in DIVERGING:
        return DIVERGING[n]
    return [f"hsl({int(10 + 200 * i / max(n - 1, 1))}, 55%, 55%)" for i in range(n)]


def _scale_label(scale: dict, points: list[str]) -> str:
    """A bar's label: the statement and its share of the top two points, e.g. "Clear (71.3% 4-5)"."""
    text = scale.get("text") or scale["code"]
    if len(points) < 2:
        return text
    share = "-" if scale["agree_share"] is None else f"{scale['agree_share']}%"
    return f"{text} ({share} {points[-2]}-{points[-1]})"


def scale_chart(question: dict) -> dict | None:
    """Diverging stacked bars for a Likert question (one bar) or a matrix (one bar per row)."""
    scales = question["rows"] if question["kind"] == "matrix" else [question]
    if not any(s["answered"] for s in scales):
        return None
    low, high = question.get("min", 1), question.get("max", 5)
    points = [str(p) for p in range(int(low), int(high) + 1)]
    colours = _palette(len(points))
    middle = (len(points) - 1) / 2
    labels = [_scale_label(s, points) for s in scales]
    left, right = [], []  # traces by side, each listed from zero outwards
    for i, point in enumerate(points):
        shares = [s["percentages"].get(point) or 0 for s in scales]
        name = point
        if i == 0 and question.get("min_label"):
            name = f"{point} {question['min_label']}"
        if i == len(points) - 1 and question.get("max_label"):
            name = f"{point} {question['max_label']}"
        common = {
            "y": labels,
            "orientation": "h",
            "name": name,
            "legendgroup": point,
            "legendrank": i,
            "marker_color": colours[i],
            "customdata": [s["counts"].get(point, 0) for s in scales],
            "text": shares,
            "textposition": "none",
            "hovertemplate": "%{customdata} answers (%{text}%)<extra>" + name + "</extra>",
        }
        if i < middle:
            left.insert(0, go.Bar(x=[-v for v in shares], **common))
        elif i > middle:
            right.append(go.Bar(x=shares, **common))
        else:  # the middle point, half on each side, one legend entry
            left.insert(0, go.Bar(x=[-v / 2 for v in shares], **common))
            right.insert(0, go.Bar(x=[v / 2 for v in shares], showlegend=False, **common))
    fig = go.Figure(data=left + right)
    reach = max(max(sum(-t.x[k] for t in left), sum(t.x[k] for t in right)) for k in range(len(scales)))
    reach = min(100, max(20, 10 * math.ceil(reach / 10)))  # the same extent both sides of zero
    ticks = [v for v in range(-100, 101, 20 if reach > 50 else 10) if abs(v) <= reach]
    _layout(
        fig,
        height=90 + 42 * len(scales),
        barmode="relative",
        legend={"orientation": "h", "y": -0.25, "traceorder": "normal"},
        xaxis={
            "title": "% of answers",
            "range": [-reach, reach],
            "zeroline": True,
            "tickvals": ticks,
            "ticktext": [str(abs(v)) for v in ticks],
        },
        yaxis={"autorange": "reversed"},
    )
    return _as_dict(fig)


def choice_chart(question: dict) -> dict | None:
    if not question["answered"]:
        return None
    options = list(question["counts"])
    counts = [question["counts"][o] for o in options]
    text = [f"{question['percentages'][o]}%" for o in options]
    fig = go.Figure(
        go.Bar(
            x=counts,
            y=options,
            orientation="h",
            marker_color=BAR,
            text=text,
            textposition="auto",
            hovertemplate="%{y}: %{x} (%{text})<extra></extra>",
        )
    )
    _layout(fig, height=70 + 32 * len(options), xaxis={"title": "responses"}, yaxis={"autorange": "reversed"})
    return _as_dict(fig)


def batch_chart(batches: list[dict]) -> dict | None:
    rated = [b for b in batches if b["rate"] is not None]
    if not rated:
        return None
    fig = go.Figure(
        go.Bar(
            x=[b["batch"] for b in rated],
            y=[b["rate"] for b in rated],
            text=[f"{b['responded']} of {b['invited']}" for b in rated],
            marker_color=BAR,
            hovertemplate="%{x}: %{y}% (%{text})<extra></extra>",
        )
    )
    _layout(fig, height=280, yaxis={"title": "% responded", "range": [0, 100]})
    return _as_dict(fig)


def timeline_chart(days: list[dict]) -> dict | None:
    if not days:
        return None
    fig = go.Figure()
    fig.add_bar(x=[d["day"] for d in days], y=[d["responses"] for d in days], name="per day", marker_color=BAR)
    fig.add_scatter(
        x=[d["day"] for d in days],
        y=[d["total"] for d in days],
        name="total",
        mode="lines+markers",
        yaxis="y2",
        line={"color": "#ca0020"},
    )
    _layout(
        fig,
        height=300,
        xaxis={"type": "date"},
        yaxis={"title": "responses per day", "rangemode": "tozero", "tickformat": "d"},
        yaxis2={"title": "total", "overlaying": "y", "side": "right", "rangemode": "tozero", "tickformat": "d"},
        legend={"orientation": "h", "y": -0.25},
    )
    return _as_dict(fig)


def question_chart(question: dict) -> dict | None:
    if question["kind"] in ("likert", "matrix"):
        return scale_chart(question)
    if question["kind"] in ("single", "multi"):
        return choice_chart(question)
    return None
