"""A self-contained HTML report of Results: tables and matplotlib figures as inline PNG data
(one file: no scripts, no external assets; it opens offline and can be mailed)."""

from __future__ import annotations

import base64
import datetime
import html
import io
from collections.abc import Callable
from pathlib import Path

import msgspec

from engine.eval.manifest import REPORT
from engine.eval.results import BenchmarkResult, Results

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 70em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
figure { display: inline-block; margin: 0.5em; }
figure img { width: 32em; height: auto; border: 1px solid #ddd; }
.warn { color: #a40; }
code { background: #f6f6f6; padding: 0 0.2em; }
"""


def _figure_png(draw: Callable) -> str:
    """Draw on a fresh matplotlib figure; the PNG as a data URI."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    draw(figure.subplots())
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _accuracy_plot(benchmarks: list[BenchmarkResult]) -> Callable:
    def draw(ax) -> None:
        shown = [b for b in benchmarks if b.avg is not None]
        means = [100 * b.avg.mean for b in shown]  # type: ignore[union-attr]
        low = [m - 100 * b.avg.low for m, b in zip(means, shown, strict=True)]  # type: ignore[union-attr]
        high = [100 * b.avg.high - m for m, b in zip(means, shown, strict=True)]  # type: ignore[union-attr]
        ax.bar([b.name for b in shown], means, yerr=[low, high], capsize=4, color="#4a7ab5")
        ax.set_ylabel("avg@n accuracy (%), 95% bootstrap interval")
        ax.set_ylim(0, 100)
        ax.set_title("Accuracy per benchmark")
        ax.tick_params(axis="x", labelrotation=20)

    return draw


def _percent_lines(series: list[tuple[str, list[float], list[float]]], xlabel: str, ylabel: str,
                   title: str) -> Callable:  # fmt: skip
    """One line per (label, xs, fractions), plotted in percent."""

    def draw(ax) -> None:
        for label, xs, ys in series:
            ax.plot(xs, [100 * y for y in ys], "o-", label=label)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(-2, 102)
        ax.set_title(title)
        ax.legend(fontsize="small")

    return draw


def _length_accuracy_plot(benchmarks: list[BenchmarkResult]) -> Callable:
    series = [
        (b.name, [(x.low + x.high) / 2 for x in b.length_bins], [x.accuracy for x in b.length_bins])
        for b in benchmarks
        if b.length_bins
    ]
    return _percent_lines(series, "completion tokens (bins of equal sample counts)",
                          "accuracy (%)", "Accuracy vs response length")  # fmt: skip


def _pass_at_k_plot(benchmarks: list[BenchmarkResult]) -> Callable:
    series = [
        (b.name, list(range(1, len(b.pass_at_k) + 1)), b.pass_at_k)
        for b in benchmarks
        if b.pass_at_k
    ]
    return _percent_lines(series, "k", "pass@k (%)", "pass@k (unbiased estimator)")


def _histogram_plot(benchmark: BenchmarkResult) -> Callable:
    def draw(ax) -> None:
        h = benchmark.histogram
        widths = [b - a for a, b in zip(h.edges, h.edges[1:], strict=False)]
        ax.bar(h.edges[:-1], h.correct, widths, align="edge", label="correct", color="#3a3")
        ax.bar(h.edges[:-1], h.incorrect, widths, bottom=h.correct, align="edge",
               label="incorrect", color="#c44")  # fmt: skip
        ax.set_xlabel("completion tokens")
        ax.set_ylabel("samples")
        ax.set_title(f"{benchmark.name}: response lengths")
        ax.legend(fontsize="small")

    return draw


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def _row(cells: list[str], header: bool = False) -> str:
    tag = "th" if header else "td"
    return "<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells) + "</tr>"


def _summary_table(benchmarks: list[BenchmarkResult]) -> str:
    head = [
        *("benchmark", "verifier", "n", "questions", "avg@n %", "± s.e.", "95% interval"),
        *("pass@1 %", "pass@n %", "maj@n %", "truncated %", "mean tokens", "unscored"),
    ]
    rows = [_row(head, header=True)]
    for b in benchmarks:
        avg = b.avg
        rows.append(
            _row(
                [
                    b.name,
                    b.verifier,
                    str(b.n),
                    f"{b.questions_scored}/{b.questions}",
                    _pct(avg.mean if avg else None),
                    _pct(avg.stderr if avg else None),
                    f"[{_pct(avg.low)}, {_pct(avg.high)}]" if avg else "-",
                    _pct(b.pass_at_k[0] if b.pass_at_k else None),
                    _pct(b.pass_at_k[-1] if b.pass_at_k else None),
                    _pct(b.maj),
                    _pct(b.truncation_rate),
                    f"{b.length.mean:.0f}",
                    ", ".join(f"{k} {v}" for k, v in sorted(b.unscored.items())) or "0",
                ]
            )
        )
    return "<table>" + "".join(rows) + "</table>"


def _difficulty_table(benchmark: BenchmarkResult) -> str:
    rows = [_row(["difficulty", "questions", "accuracy %", "95% interval"], header=True)]
    for name, group in benchmark.difficulty.items():
        a = group.accuracy
        rows.append(
            _row([name, str(group.questions), _pct(a.mean), f"[{_pct(a.low)}, {_pct(a.high)}]"])
        )
    return f"<h3>{html.escape(benchmark.name)} by difficulty</h3><table>{''.join(rows)}</table>"


def _image(uri: str, alt: str) -> str:
    return f'<figure><img src="{uri}" alt="{html.escape(alt)}"></figure>'


def render(results: Results) -> str:
    """The report as one HTML document."""
    benchmarks = results.benchmarks
    created = datetime.datetime.fromtimestamp(results.created, datetime.timezone.utc)
    model = results.model.get("model", "?")
    checkpoint = results.checkpoint
    served = f" (served from <code>{html.escape(checkpoint)}</code>)" if checkpoint else ""
    incomplete = [b.name for b in benchmarks if not b.complete]
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Eval {html.escape(results.suite)}: {html.escape(str(model))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>Eval <code>{html.escape(results.suite)}</code></h1>",
        f"<p>Model <code>{html.escape(str(model))}</code>"
        + served
        + f"; computed {created:%Y-%m-%d %H:%M} UTC from the output's shards.</p>",
    ]
    if incomplete:
        parts.append(
            f"<p class='warn'>Incomplete (resume the eval to finish): {', '.join(incomplete)}</p>"
        )
    parts += [
        "<h2>Summary</h2>",
        _summary_table(benchmarks),
        "<p>avg@n: each question's share of correct samples, averaged over questions; s.e. and "
        "interval over questions (bootstrap, 10,000 rounds). pass@k: unbiased estimator "
        "(Chen et al. 2021). maj@n: majority vote, answers grouped by the verifier's "
        "equivalence. Unscored samples (backend failures, failed checks) are not counted as "
        "wrong.</p>",
        "<h2>Figures</h2>",
        _image(_figure_png(_accuracy_plot(benchmarks)), "accuracy per benchmark"),
        _image(_figure_png(_pass_at_k_plot(benchmarks)), "pass@k curves"),
        _image(_figure_png(_length_accuracy_plot(benchmarks)), "accuracy vs response length"),
    ]
    parts += [
        _image(_figure_png(_histogram_plot(b)), f"{b.name} length histogram")
        for b in benchmarks
        if b.histogram.edges
    ]
    parts += [_difficulty_table(b) for b in benchmarks if b.difficulty]
    sampling = [_row(["benchmark", "recipe hash", "sampling"], header=True)]
    sampling += [
        _row([b.name, b.recipe_hash, msgspec.json.encode(b.sampling).decode()]) for b in benchmarks
    ]
    versions = ", ".join(f"{k} {v}" for k, v in results.packages.items())
    parts += [
        "<h2>Settings</h2><table>",
        *sampling,
        "</table>",
        f"<p>Packages: {html.escape(versions)}</p>",
        "</body></html>",
    ]
    return "\n".join(parts)


def write_report(directory: Path, results: Results) -> Path:
    path = directory / REPORT
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(render(results))
    tmp.replace(path)
    return path
