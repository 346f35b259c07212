"""Replay plots as inline SVG (matplotlib): HDR percentile curve, rate and p99, outcomes.

matplotlib is the `report` extra: `require_plotting()` says so in one line before a run starts.
Each plot is a pure function of the report data; the SVG carries no date and fixed element
ids, so the same report gives the same bytes. Text stays text (`svg.fonttype: none`): smaller
files, searchable in the browser, and the system's fonts are used (nothing is fetched).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from emitter.errors import UsageError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

EXTRA_HINT = "pip install 'vss-emitter[report]'"
_NINES = 6  # the percentile axis runs to 99.9999 %
_COLOURS = {
    "from_schedule": "#c0392b",
    "from_send": "#2471a3",
    "acked": "#27ae60",
    "failed": "#c0392b",
    "late": "#e67e22",
    "rate": "#2471a3",
    "p99": "#8e44ad",
}


def require_plotting(option: str = "--html") -> None:
    """UsageError in one line when matplotlib (the `report` extra) is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            f"{option} for replay draws plots with matplotlib, which is not installed: "
            f"expected the `report` extra, e.g. {EXTRA_HINT}"
        ) from None


def _figure(height: float = 3.2) -> Figure:
    from matplotlib.figure import Figure

    # A Figure made directly (not pyplot) needs no GUI backend and keeps no global state.
    return Figure(figsize=(9.0, height), dpi=96, layout="constrained")


def _svg(figure: Figure) -> str:
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context(
        {"svg.fonttype": "none", "svg.hashsalt": "vss-emitter", "svg.id": None}
    ):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    # The XML prolog and DOCTYPE are for standalone files; inline in HTML they are noise.
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _nines(percentile: float) -> float:
    """A percentile's place on a "nines" axis: 90 % -> 1, 99 % -> 2, 99.9 % -> 3, ..."""
    rest = max(100.0 - percentile, 10.0**-_NINES * 100)
    return -math.log10(rest / 100.0)


def percentile_svg(curves: Mapping[str, Sequence[Sequence[float]]]) -> str | None:
    """Latency against percentile on a nines axis, one line per curve; None with no data.

    `curves` maps a name (`from_schedule`, `from_send`) to `[[percentile, ms], ...]`.
    """
    usable = {
        name: [(float(p), float(ms)) for p, ms in points if 0 <= float(p) <= 100]
        for name, points in curves.items()
        if points
    }
    usable = {name: points for name, points in usable.items() if points}
    if not usable:
        return None
    figure = _figure(3.6)
    axes = figure.add_subplot()
    labels = {"from_schedule": "from the scheduled time", "from_send": "from the send"}
    top = 2
    for name, points in usable.items():
        xs = [_nines(p) for p, _ in points]
        top = max(top, math.ceil(max(xs)))
        axes.plot(
            xs,
            [ms for _, ms in points],
            label=labels.get(name, name),
            color=_COLOURS.get(name),
            linewidth=1.6,
            drawstyle="steps-post",
        )
    ticks = list(range(min(top, _NINES) + 1))
    axes.set_xticks(ticks, [_nines_label(t) for t in ticks])
    axes.set_xlim(0, ticks[-1])
    axes.set_ylim(bottom=0)
    axes.set_xlabel("percentile")
    axes.set_ylabel("latency (ms)")
    axes.set_title("Latency by percentile (HDR)")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left")
    return _svg(figure)


def _nines_label(nines: int) -> str:
    if nines == 0:
        return "0%"
    return f"{100 - 10 ** (2 - nines):.{max(0, nines - 2)}f}%"


def _number(bucket: Mapping[str, Any], key: str) -> float:
    value = bucket.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)


def _span(entry: Mapping[str, Any], last: float) -> tuple[float, float] | None:
    """(start, end) seconds from the run's start of a stage or an outage; an outage that never
    ended runs to `last`, the end of the plot."""
    start = next((entry[k] for k in _START_KEYS if isinstance(entry.get(k), int | float)), None)
    if start is None:
        return None
    end = next((entry[k] for k in ("end_s", "to_s", "end") if k in entry), None)
    if isinstance(end, int | float):
        return float(start), float(end)
    duration = entry.get("duration_s")
    if isinstance(duration, int | float):
        return float(start), float(start + duration)
    return float(start), last


_START_KEYS = ("start_s", "from_s", "t", "start", "at_s")


def _marks(
    axes: Axes,
    stages: Sequence[Mapping[str, Any]],
    outages: Sequence[Mapping[str, Any]],
    last: float,
) -> None:
    """Stage boundaries as dashed lines with their names, outage windows shaded."""
    for index, stage in enumerate(stages):
        span = _span(stage, last)
        if span is None:
            continue
        axes.axvline(span[0], color="#555", linestyle="--", linewidth=0.8)
        name = stage.get("name") or stage.get("stage") or stage.get("text") or f"stage {index + 1}"
        axes.annotate(
            str(name),
            (span[0], 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -10),
            textcoords="offset points",
            fontsize=7,
            color="#555",
        )
    for number, outage in enumerate(outages):
        span = _span(outage, last)
        if span is None:
            continue
        axes.axvspan(
            span[0],
            max(span[1], span[0] + 0.5),
            color="#c0392b",
            alpha=0.12,
            label="outage" if number == 0 else None,
        )


def rate_p99_svg(
    timeline: Sequence[Mapping[str, Any]],
    *,
    stages: Sequence[Mapping[str, Any]] = (),
    outages: Sequence[Mapping[str, Any]] = (),
    p99_limits_ms: Sequence[float] = (),
) -> str | None:
    """Achieved rate (sends per second) and p99 latency over time; None with no buckets."""
    if not timeline:
        return None
    ts = [_number(b, "t") for b in timeline]
    figure = _figure(3.4)
    rate_axes = figure.add_subplot()
    rate_axes.plot(
        ts, [_number(b, "sent") for b in timeline], color=_COLOURS["rate"], label="sent/s"
    )
    rate_axes.set_ylabel("requests per second", color=_COLOURS["rate"])
    rate_axes.set_xlabel("seconds from start")
    rate_axes.set_ylim(bottom=0)
    p99_axes = rate_axes.twinx()
    p99_axes.plot(
        ts,
        [_number(b, "p99_ms") for b in timeline],
        color=_COLOURS["p99"],
        label="p99 (ms)",
        linewidth=1.0,
    )
    for limit in p99_limits_ms:
        p99_axes.axhline(limit, color=_COLOURS["p99"], linestyle=":", linewidth=1.2)
        p99_axes.annotate(
            f"threshold {limit:g} ms",
            (0.0, limit),
            xycoords=("axes fraction", "data"),
            xytext=(3, 3),
            textcoords="offset points",
            fontsize=7,
            color=_COLOURS["p99"],
        )
    p99_axes.set_ylabel("p99 latency (ms)", color=_COLOURS["p99"])
    p99_axes.set_ylim(bottom=0)
    _marks(rate_axes, stages, outages, max(ts) + 1)
    rate_axes.set_title("Achieved rate and p99 over time")
    rate_axes.grid(True, alpha=0.3)
    handles = rate_axes.get_legend_handles_labels()
    more = p99_axes.get_legend_handles_labels()
    rate_axes.legend(handles[0] + more[0], handles[1] + more[1], loc="lower right", fontsize=8)
    return _svg(figure)


def outcomes_svg(
    timeline: Sequence[Mapping[str, Any]],
    *,
    stages: Sequence[Mapping[str, Any]] = (),
    outages: Sequence[Mapping[str, Any]] = (),
) -> str | None:
    """Acked and failed per second, stacked, and late sends as a line; None with no buckets."""
    if not timeline:
        return None
    ts = [_number(b, "t") for b in timeline]
    figure = _figure(3.0)
    axes = figure.add_subplot()
    # Acked and failed are final outcomes and stack; late is a property of a send (a late
    # request may still be acked), so it is a line over them, not a third layer.
    axes.stackplot(
        ts,
        [_number(b, "acked") for b in timeline],
        [_number(b, "failed") for b in timeline],
        labels=["acked", "failed"],
        colors=[_COLOURS["acked"], _COLOURS["failed"]],
        alpha=0.85,
        step="post",
    )
    axes.plot(
        ts,
        [_number(b, "late") for b in timeline],
        color=_COLOURS["late"],
        label="late (sent after its due time)",
        drawstyle="steps-post",
        linewidth=1.4,
    )
    _marks(axes, stages, outages, max(ts) + 1)
    axes.set_xlabel("seconds from start")
    axes.set_ylabel("per second")
    axes.set_ylim(bottom=0)
    axes.set_title("Outcomes over time")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper right", fontsize=8)
    return _svg(figure)
