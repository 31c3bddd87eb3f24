"""The results of a run: the console table, the JSON file, the chart and the docs page's tables.

`python -m bench.report [results.json]` prints the table of a stored run again; with
`--update-docs` it rewrites the generated part of docs/performance.md (between the markers),
with `--chart` draws the chart anew, and `--compare AFTER.json` prints a before/after table.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import statistics
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

from bench.harness import RESULTS_DIR, ROOT

LATEST: Final = RESULTS_DIR / "latest.json"
CHART: Final = RESULTS_DIR / "chart.png"
DOCS_PAGE: Final = ROOT / "docs" / "performance.md"
DOCS_CHART: Final = ROOT / "docs" / "assets" / "benchmarks.png"
"""The chart as the docs page shows it (MkDocs only publishes files under docs/)."""
START_MARKER: Final = "<!-- bench:results:start -->"
END_MARKER: Final = "<!-- bench:results:end -->"
SUMMARY_START: Final = "<!-- bench:summary:start -->"
SUMMARY_END: Final = "<!-- bench:summary:end -->"

TARGETS: Final = {
    "read ours/raw": 0.7,
    "read ours/plain": 0.5,
    "read ours/official": 2.0,
    "rehydrate ours/read_events": 0.8,
    "write.batch-1 ours/official": 1.2,
    "observe.end-to-end-p50 ours/official": 1.0,
    "command.update ours/plain": 0.8,
    "projection.catch-up ours/hand-rolled": 0.8,
}
"""The issue's targets: at least this ratio, or for latencies (lower is better) at most this."""
AT_MOST: Final = frozenset({"observe.end-to-end-p50 ours/official"})

Run = dict[str, Any]


# --- numbers ---------------------------------------------------------------------------------


def number(value: float, unit: str) -> str:
    """A value in its unit's usual precision."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit in ("events/s", "rows/s", "commands/s"):
        return f"{value:,.0f}"
    if unit == "ms":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if unit == "MB":
        return f"{value:,.1f}"
    return f"{value:.3g}"


def spread(summary: dict[str, Any]) -> str:
    value = summary.get("spread")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f" ±{value * 50:.0f}%" if len(summary.get("samples", [])) > 1 else ""


def measurements(run: Run, group: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = run.get("measurements", [])
    return [m for m in found if group is None or m["group"] == group]


def find(run: Run, measurement_id: str) -> dict[str, Any] | None:
    for measurement in measurements(run):
        if measurement["id"] == measurement_id:
            return measurement
    return None


# --- headline --------------------------------------------------------------------------------


def ratio_range(run: Run, what: str) -> str:
    """`low-high` of the ratio named by a headline line, from the paired repetitions."""
    title, _, pair = what.rpartition(": ")
    for measurement in measurements(run):
        if measurement["title"] == title:
            found = measurement.get("ratio_ranges", {}).get(pair)
            if found:
                return f"{found[0]:.2f}-{found[1]:.2f}"
    return ""


Target = tuple[float, bool]
"""A target ratio and whether it is a ceiling (latencies) rather than a floor."""


def _target(key: str) -> Target | None:
    value = TARGETS.get(key)
    return None if value is None else (value, key in AT_MOST)


def headline(run: Run) -> list[tuple[str, float, Target | None]]:
    """(what, ratio, target or None) for the numbers the issue asks about first."""
    lines: list[tuple[str, float, Target | None]] = []
    for measurement in measurements(run, "read"):
        for pair, ratio in measurement["ratios"].items():
            if measurement["id"].endswith("in-process"):
                lines.append((f"{measurement['title']}: {pair}", ratio, None))
            else:
                target = _target(f"read {pair}")
                lines.append((f"{measurement['title']}: {pair}", ratio, target))
    for measurement in measurements(run, "rehydrate"):
        for pair, ratio in measurement["ratios"].items():
            target = _target(f"rehydrate {pair}")
            lines.append((f"{measurement['title']}: {pair}", ratio, target))
    for measurement_id in (
        "write.batch-1",
        "write.batch-1000",
        "write.batch-100.precondition",
        "observe.p50",
        "observe.p99",
        "observe.end-to-end-p50",
        "eventql.project",
        "command.update",
        "startup.import",
        "projection.catch-up",
    ):
        found = find(run, measurement_id)
        if found is not None:
            for pair, ratio in found["ratios"].items():
                target = _target(f"{measurement_id} {pair}")
                lines.append((f"{found['title']}: {pair}", ratio, target))
    for measurement in measurements(run, "server"):  # with --emulator-baseline
        for pair, ratio in measurement["ratios"].items():
            lines.append((f"{measurement['title']}: {pair}", ratio, None))
    return lines


def memory_verdict(run: Run) -> list[str]:
    lines = []
    for measurement in measurements(run, "memory"):
        details = measurement.get("details", {})
        if "flat" not in details:
            continue
        for label, flat in details["flat"].items():
            growth = details["growth_mb_from_small_to_large"][label]
            state = "flat" if flat else "GROWS"
            lines.append(
                f"memory {label}: {state} ({growth:+.1f} MB from 10x fewer events to "
                f"{measurement['title'].split('streaming ')[-1]})"
            )
    return lines


def target_text(ratio: float, target: Target | None) -> str:
    if target is None:
        return ""
    value, at_most = target
    met = ratio <= value if at_most else ratio >= value
    return f"target {'<=' if at_most else '>='} {value:g}: {'met' if met else 'MISSED'}"


# --- the console table -----------------------------------------------------------------------


def _contenders_text(measurement: dict[str, Any]) -> str:
    unit = measurement["unit"]
    parts = [
        f"{label} {number(summary['median'], unit)}{spread(summary)}"
        for label, summary in measurement["contenders"].items()
    ]
    return " | ".join(parts)


def _ratios_text(measurement: dict[str, Any]) -> str:
    return "  ".join(f"{pair} {ratio:.2f}" for pair, ratio in measurement["ratios"].items())


def table(run: Run) -> str:
    """The whole run as text: one line per measurement, then the headline."""
    rows: list[str] = []
    width = max((len(m["title"]) for m in measurements(run)), default=20)
    for measurement in measurements(run):
        direction = "" if measurement["higher_is_better"] else " (lower is better)"
        rows.append(
            f"{measurement['title']:<{width}}  [{measurement['unit']}{direction}]\n"
            f"{'':<4}{_contenders_text(measurement)}\n"
            f"{'':<4}{_ratios_text(measurement)}".rstrip()
        )
    lines = ["", "=" * 100, "RESULTS (median of repetitions, ± half the min-max range)", ""]
    lines.append("ratios: the median of the ratios within each repetition")
    lines.append("")
    lines.extend(rows)
    lines.extend(["", "HEADLINE RATIOS (median, lowest-highest over the repetitions)", ""])
    for what, ratio, target in headline(run):
        spread_text = ratio_range(run, what)
        spread_text = f"({spread_text})" if spread_text else ""
        lines.append(
            f"  {ratio:6.2f} {spread_text:<11} {what}  {target_text(ratio, target)}".rstrip()
        )
    lines.extend(f"  {line}" for line in memory_verdict(run))
    machine = run.get("machine", {})
    lines.extend(
        [
            "",
            f"machine: {machine.get('cpu')}, {machine.get('cores')} cores, "
            f"Python {machine.get('python')}; load at start {machine.get('load_average_at_start')}",
            f"elapsed: {run.get('elapsed_seconds', 0):.0f} s; "
            f"repetitions: {run.get('settings', {}).get('repetitions')}",
            "=" * 100,
        ]
    )
    return "\n".join(lines)


# --- markdown for the docs page --------------------------------------------------------------


def _cell(summary: dict[str, Any] | None, unit: str) -> str:
    if summary is None:
        return "-"
    return f"{number(summary['median'], unit)}{spread(summary)}"


def markdown(run: Run, chart: str) -> str:
    """The generated part of docs/performance.md: facts, headline, tables, chart."""
    machine = run.get("machine", {})
    versions = machine.get("versions", {})
    settings = run.get("settings", {})
    out: list[str] = []
    out.append(
        f"Measured {run.get('finished', '?')} on {machine.get('cpu')} "
        f"({machine.get('cores')} cores, {machine.get('memory_gib')} GiB), {machine.get('os')}, "
        f"CPython {machine.get('python')}; load average at start "
        f"{', '.join(str(value) for value in machine.get('load_average_at_start', []))}. "
        f"Repetitions: {settings.get('repetitions')}; whole run {run.get('elapsed_seconds', 0):.0f}"
        f" s; git revision {machine.get('git_revision')}."
    )
    out.append("")
    out.append(
        "Versions: "
        + ", ".join(f"{name} {version}" for name, version in versions.items() if version)
        + "."
    )
    out.append("")
    out.append("### Headline ratios")
    out.append("")
    out.append("| Ratio | Value | Range | Target |")
    out.append("| --- | ---: | ---: | --- |")
    for what, ratio, target in headline(run):
        out.append(
            f"| {what} | **{ratio:.2f}** | {ratio_range(run, what) or '-'} | "
            f"{target_text(ratio, target) or '-'} |"
        )
    for line in memory_verdict(run):
        verdict = "flat: met" if ": flat" in line else "MISSED"
        out.append(f"| {line} | | | {verdict} |")
    out.append("")
    out.append(f"![Benchmark chart: ratios, rates, latency and memory]({chart})")
    out.append("")
    for group, heading in (
        ("read", "Reading"),
        ("write", "Writing"),
        ("observe", "Observing"),
        ("rehydrate", "Typed rehydration"),
        ("eventql", "EventQL"),
        ("command", "Commands"),
        ("startup", "Cold start"),
        ("server", "The emulator as a server"),
        ("projection", "Projections"),
        ("memory", "Memory"),
    ):
        found = measurements(run, group)
        if not found:
            continue
        labels: list[str] = []
        for measurement in found:
            for label in measurement["contenders"]:
                if label not in labels:
                    labels.append(label)
        pairs: list[str] = []
        for measurement in found:
            for pair in measurement["ratios"]:
                if pair not in pairs:
                    pairs.append(pair)
        out.append(f"### {heading}")
        out.append("")
        out.append("| Measurement | Unit | " + " | ".join([*labels, *pairs]) + " |")
        out.append("| --- | --- |" + " ---: |" * (len(labels) + len(pairs)))
        for measurement in found:
            unit = measurement["unit"] + (
                "" if measurement["higher_is_better"] else ", lower is better"
            )
            cells = [
                _cell(measurement["contenders"].get(label), measurement["unit"]) for label in labels
            ]
            ratios = [
                f"{measurement['ratios'][pair]:.2f}" if pair in measurement["ratios"] else "-"
                for pair in pairs
            ]
            out.append(
                f"| {measurement['title']} | {unit} | " + " | ".join([*cells, *ratios]) + " |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def summary_markdown(run: Run) -> str:
    """The closing note: the headline ratios of the run in a few lines."""

    def pair(measurement_id: str, ratio: str) -> str:
        found = find(run, measurement_id)
        value = found["ratios"].get(ratio) if found is not None else None
        return "-" if value is None else f"**{value:.2f}**"

    out = [
        f"From the run of {run.get('finished', '?')} above (medians of the ratios within each "
        "repetition):",
        "",
        f"- Reading 100,000 events, one subject: ours / raw limit "
        f"{pair('read.one-subject', 'ours/raw')} (target 0.7), ours / plain loop "
        f"{pair('read.one-subject', 'ours/plain')} (target 0.5), ours / official "
        f"{pair('read.one-subject', 'ours/official')} (target 2.0).",
        f"- Reading recursively over 1,000 subjects: ours / raw limit "
        f"{pair('read.recursive', 'ours/raw')}, ours / official "
        f"{pair('read.recursive', 'ours/official')}.",
        f"- Typed rehydration of 100,000 events: Repository.load / our raw read rate "
        f"{pair('rehydrate.100k', 'ours/read_events')} (target 0.8); with a snapshot it loads "
        f"{pair('rehydrate.100k.snapshot', 'ours/no snapshot')} times as fast.",
        f"- Writing, 1 event per call: ours / raw limit {pair('write.batch-1', 'ours/raw')}, "
        f"ours / official {pair('write.batch-1', 'ours/official')} (target 1.2); 1,000 per call: "
        f"{pair('write.batch-1000', 'ours/raw')} and {pair('write.batch-1000', 'ours/official')}.",
        f"- Observing, p50 latency after the write returns: ours / raw limit "
        f"{pair('observe.p50', 'ours/raw')}, ours / official "
        f"{pair('observe.p50', 'ours/official')}; from the write call to the arrival: "
        f"{pair('observe.end-to-end-p50', 'ours/raw')} and "
        f"{pair('observe.end-to-end-p50', 'ours/official')} (latencies: lower is better).",
        f"- EventQL: ours / raw limit {pair('eventql.project', 'ours/raw')}, ours / official "
        f"{pair('eventql.project', 'ours/official')} (the emulator sets the pace).",
        f"- Commands (Repository.update: load, decide, save): ours / plain aiohttp loop "
        f"{pair('command.update', 'ours/plain')} (target 0.8), ours / official "
        f"{pair('command.update', 'ours/official')}.",
        f"- Cold start (`import eventsourcingdb`, lower is better): ours / official "
        f"{pair('startup.import', 'ours/official')}.",
    ]
    server = measurements(run, "server")
    if server and server[0]["ratios"]:
        ratios = ", ".join(
            f"{m['title'].removeprefix('emulator: ')} {m['ratios']['emulator/baseline']:.2f}"
            for m in server
        )
        out.append(
            f"- The emulator as a server beside the one of "
            f"`{run.get('settings', {}).get('emulator_baseline')}` (emulator / baseline; "
            f"delivery is a latency, lower is better): {ratios}."
        )
    out.extend(f"- {line[0].upper()}{line[1:]}." for line in memory_verdict(run))
    return "\n".join(out) + "\n"


def _replace_between(text: str, start_marker: str, end_marker: str, generated: str) -> str:
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise ValueError(f"the docs page has no {start_marker} ... {end_marker} section")
    return text[: start + len(start_marker)] + "\n\n" + generated + "\n" + text[end:]


def update_docs(run: Run, page: Path = DOCS_PAGE) -> None:
    """Replace the generated sections of the docs page (between their markers) with this run."""
    text = page.read_text(encoding="utf-8")
    drawn = chart(run, DOCS_CHART)
    relative = Path(os.path.relpath(drawn, page.parent)).as_posix()
    text = _replace_between(text, START_MARKER, END_MARKER, markdown(run, relative))
    if SUMMARY_START in text:
        text = _replace_between(text, SUMMARY_START, SUMMARY_END, summary_markdown(run))
    page.write_text(text, encoding="utf-8")


def compare(before: Run, after: Run, labels: Sequence[str] = ("ours",)) -> str:
    """A markdown table of the measurements both runs have: medians and ratios, before/after."""
    patches = ", ".join(after.get("settings", {}).get("patches", [])) or "none"
    out = [
        f"| Measurement | Number | Before | After ({patches}) | Change |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    for measurement in measurements(after):
        earlier = find(before, measurement["id"])
        if earlier is None:
            continue
        unit = measurement["unit"]
        for label in labels:
            new, old = measurement["contenders"].get(label), earlier["contenders"].get(label)
            if new is None or old is None:
                continue
            change = new["median"] / old["median"] if old["median"] else float("nan")
            out.append(
                f"| {measurement['title']} | {label} ({unit}) | {_cell(old, unit)} | "
                f"{_cell(new, unit)} | {change:.2f}x |"
            )
        for pair, ratio in measurement["ratios"].items():
            old_ratio = earlier["ratios"].get(pair)
            if old_ratio is not None:
                out.append(f"| {measurement['title']} | {pair} | {old_ratio:.2f} | {ratio:.2f} | |")
    return "\n".join(out) + "\n"


# --- the chart -------------------------------------------------------------------------------

COLOURS: Final = {
    "ours": "#1f6feb",
    "raw": "#8b949e",
    "official": "#d29922",
    "read_events": "#8b949e",
    "hand-rolled": "#56d364",
    "no snapshot": "#bc8cff",
    "plain": "#3fb950",
}


def _colour(label: str) -> str:
    return COLOURS.get(label, "#444c56")


def _grouped_bars(axis: Any, found: Sequence[dict[str, Any]], labels: Iterable[str]) -> None:
    labels = list(labels)
    height = 0.8 / max(1, len(labels))
    names = [m["title"] for m in found]
    for index, label in enumerate(labels):
        values = [m["contenders"].get(label, {}).get("median", 0.0) for m in found]
        positions = [row + index * height for row in range(len(found))]
        axis.barh(positions, values, height=height, label=label, color=_colour(label))
    axis.set_yticks([row + height * (len(labels) - 1) / 2 for row in range(len(found))])
    axis.set_yticklabels([_wrap(name) for name in names], fontsize=7)
    axis.invert_yaxis()
    axis.legend(fontsize=7, loc="best")
    axis.grid(axis="x", alpha=0.3)


def _wrap(text: str, width: int = 44) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    return "\n".join(lines)


def chart(run: Run, path: Path = CHART) -> Path:
    """Draw the run as a PNG: ratios, throughput, latency, rehydration and memory."""
    matplotlib: Any = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt: Any = importlib.import_module("matplotlib.pyplot")
    figure, axes = plt.subplots(3, 2, figsize=(16, 16), layout="constrained")

    # Ratios of every throughput measurement.
    axis = axes[0][0]
    rated = [
        m
        for m in measurements(run)
        if m["higher_is_better"] and m["group"] in ("read", "write", "eventql", "command")
    ]
    pairs = ["ours/raw", "ours/plain", "ours/official"]
    height = 0.8 / len(pairs)
    largest = 1.7
    for index, pair in enumerate(pairs):
        values = [m["ratios"].get(pair, 0.0) for m in rated]
        positions = [row + index * height for row in range(len(rated))]
        axis.barh(positions, values, height=height, label=pair, color=_colour(pair[5:]))
        for position, value in zip(positions, values, strict=True):
            if value:
                axis.text(value + 0.01, position, f"{value:.2f}", va="center", fontsize=6)
        largest = max([largest, *(value * 1.12 for value in values)])
    axis.set_xlim(0, largest)
    axis.set_yticks([row + height * (len(pairs) - 1) / 2 for row in range(len(rated))])
    axis.set_yticklabels([_wrap(m["title"]) for m in rated], fontsize=6)
    axis.invert_yaxis()
    axis.axvline(1.0, color="black", linewidth=0.8)
    axis.set_title("Ratios (ours / other; > 1: ours is faster)", fontsize=10)
    axis.legend(fontsize=7, loc="lower right")
    axis.grid(axis="x", alpha=0.3)

    # Throughput.
    axis = axes[0][1]
    if rated:
        _grouped_bars(axis, rated, ["ours", "raw", "plain", "official"])
        axis.set_xscale("log")
        axis.set_title("Throughput (per second, log scale)", fontsize=10)

    # Observe latency.
    axis = axes[1][0]
    latency = measurements(run, "observe")
    if latency:
        _grouped_bars(axis, latency, ["ours", "raw", "official"])
        axis.set_title("Observe latency (ms, lower is better)", fontsize=10)

    # Rehydration.
    axis = axes[1][1]
    rehydration = measurements(run, "rehydrate")
    if rehydration:
        _grouped_bars(axis, rehydration, ["ours", "read_events", "hand-rolled", "no snapshot"])
        axis.set_xscale("log")
        axis.set_title("Typed rehydration (history events per second, log scale)", fontsize=10)

    # Memory timeline and peaks.
    axis = axes[2][0]
    large = next(
        (m for m in measurements(run, "memory") if "timeline_large" in m.get("details", {})), None
    )
    if large is not None:
        for label, samples in large["details"]["timeline_large"].items():
            if samples:
                xs = [count for count, _ in samples]
                ys = [megabytes for _, megabytes in samples]
                axis.plot(xs, ys, marker=".", label=label, color=_colour(label))
        axis.set_xlabel("events streamed", fontsize=8)
        axis.set_ylabel("resident memory (MB)", fontsize=8)
        axis.set_ylim(bottom=0)
        axis.set_title(f"Memory while {large['title'].replace('peak memory ', '')}", fontsize=10)
        axis.legend(fontsize=7, loc="lower right")
        axis.grid(alpha=0.3)
    axis = axes[2][1]
    memory = measurements(run, "memory")
    if memory:
        _grouped_bars(axis, memory, ["ours", "raw", "official"])
        axis.set_title("Peak memory of the streaming process (MB, lower is better)", fontsize=10)

    machine = run.get("machine", {})
    versions = machine.get("versions", {})
    figure.suptitle(
        f"eventsourcingdb benchmarks - {machine.get('cpu')}, {machine.get('cores')} cores, "
        f"CPython {machine.get('python')}\nours {versions.get('eventsourcingdb (ours)')}, "
        f"official {versions.get('eventsourcingdb (official)')}, httpx {versions.get('httpx')}, "
        f"pydantic {versions.get('pydantic')}; {run.get('finished', '')}",
        fontsize=10,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


# --- files -----------------------------------------------------------------------------------


def save(run: Run, path: Path = LATEST) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(run, indent=2, allow_nan=True) + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def load(path: Path = LATEST) -> Run:
    """A stored run, its ratios recomputed from the samples as `Measurement.ratios` does."""
    run: Run = json.loads(path.read_text(encoding="utf-8"))
    for measurement in measurements(run):
        ranges: dict[str, list[float]] = {}
        for pair in measurement["ratios"]:
            top, _, bottom = pair.partition("/")
            tops = measurement["contenders"].get(top, {}).get("samples", [])
            bottoms = measurement["contenders"].get(bottom, {}).get("samples", [])
            if tops and len(tops) == len(bottoms):
                paired = [a / b for a, b in zip(tops, bottoms, strict=True) if b]
                if paired:
                    measurement["ratios"][pair] = statistics.median(paired)
                    ranges[pair] = [min(paired), max(paired)]
        measurement["ratio_ranges"] = ranges
    return run


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("results", nargs="?", type=Path, default=LATEST)
    parser.add_argument("--update-docs", action="store_true", help="rewrite docs/performance.md")
    parser.add_argument("--chart", action="store_true", help="draw bench/results/chart.png")
    parser.add_argument(
        "--compare",
        type=Path,
        metavar="AFTER",
        help="print a markdown before/after table of RESULTS (before) and AFTER",
    )
    arguments = parser.parse_args(argv)
    run = load(arguments.results)
    if arguments.compare is not None:
        print(compare(run, load(arguments.compare)))
        return 0
    print(table(run))
    if arguments.chart:
        print(f"chart: {chart(run)}", file=sys.stderr)
    if arguments.update_docs:
        update_docs(run)
        print(f"updated {DOCS_PAGE.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
