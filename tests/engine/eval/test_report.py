"""The offline demo end to end: results.json with every figure and setting, a self-contained HTML
report that a real headless Chromium renders with its figures, and ``eval compare``."""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path

import pytest

from tests.browser import headless_chromium, loaded_images
from tests.helpers import REPO, run_cli

DEMO = REPO / "configs" / "eval" / "demo.toml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    """``python -m engine eval --suite configs/eval/demo.toml`` (the README's command)."""
    out = tmp_path_factory.mktemp("demo") / "out"
    started = time.monotonic()
    result = run_cli("eval", "--suite", str(DEMO), "--out", str(out))
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 60, f"the demo took {elapsed:.0f}s (the README says under a minute)"
    assert "demo-math500" in result.stdout and f"report  {out / 'report.html'}" in result.stdout
    return out


def test_results_json_holds_every_figure_and_setting(demo):
    results = json.loads((demo / "results.json").read_text())
    assert results["suite"] == "demo" and results["model"]["model"] == "mock"
    assert {"python", "thoughtmill", "numpy", "matplotlib", "msgspec"} <= results["packages"].keys()
    assert [b["name"] for b in results["suite_spec"]["benchmarks"]] == ["demo-math500", "demo-aime"]
    for bench, n, questions in zip(results["benchmarks"], (4, 8), (40, 15), strict=True):
        assert bench["n"] == n and bench["questions"] == questions
        assert bench["samples"] == bench["scored"] == n * questions and not bench["unscored"]
        assert bench["sampling"] == {
            "temperature": 0.7,
            "top_p": 1.0,
            "max_tokens": 2048,
            "seed": 0,
        }
        assert re.fullmatch(r"[0-9a-f]{16}", bench["recipe_hash"])
        avg = bench["avg"]
        assert avg["low"] <= avg["mean"] <= avg["high"] and avg["stderr"] > 0
        assert abs(avg["mean"] - 0.6) < 4 * avg["stderr"] + 0.02  # the mock's correct rate
        assert len(bench["pass_at_k"]) == n and bench["pass_at_k"][0] == pytest.approx(avg["mean"])
        assert bench["maj"] is not None and bench["truncation_rate"] == 0.0
        assert bench["length"]["mean"] > 0 and sum(bench["histogram"]["correct"]) > 0
        assert sum(b["samples"] for b in bench["length_bins"]) == n * questions
    math500 = results["benchmarks"][0]
    assert list(math500["difficulty"]) == ["1", "2", "3", "4", "5"]
    assert all(group["questions"] == 8 for group in math500["difficulty"].values())


def test_the_report_renders_in_headless_chromium_with_its_figures(demo, tmp_path):
    report = demo / "report.html"
    page = report.read_text()
    assert not re.search(r"""(?:src|href)=["']?(?:https?:|//)""", page)  # self-contained
    with headless_chromium(tmp_path) as browser:
        browser.get(report.as_uri())
        assert browser.title == "Eval demo: mock"
        images = loaded_images(browser)
        text = browser.find_element("tag name", "body").text
        browser.set_window_size(1400, 3200)
        shot = tmp_path / "report.png"
        assert browser.save_screenshot(str(shot))
    assert len(images) == 5  # accuracy, pass@k, accuracy vs length, a histogram per benchmark
    for image in images:
        assert image["complete"] and image["naturalWidth"] > 0 and image["naturalHeight"] > 0
        assert image["width"] > 100 and image["height"] > 50, image
    assert {"accuracy per benchmark", "pass@k curves", "accuracy vs response length"} <= {
        i["alt"] for i in images
    }
    assert "demo-math500" in text and "demo-aime" in text and "by difficulty" in text
    assert shot.stat().st_size > 20_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_compare_says_which_differences_are_significant(demo, tmp_path):
    better = tmp_path / "better.toml"
    better.write_text(DEMO.read_text().replace("correct_rate = 0.6", "correct_rate = 0.95"))
    out = tmp_path / "better"
    assert run_cli("eval", "--suite", str(better), "--out", str(out), "--quiet").returncode == 0
    result = run_cli("eval", "compare", str(out), str(demo))
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[2:]}
    assert set(rows) == {"demo-math500", "demo-aime"}
    assert all(row.endswith(" significant") and "not" not in row for row in rows.values()), rows
    same = tmp_path / "same"
    shutil.copytree(demo, same)
    result = run_cli("eval", "compare", str(same), str(demo), "--json")
    comparison = json.loads(result.stdout)
    for difference in comparison["differences"]:
        assert difference["test"]["significant"] is False
        assert (
            difference["test"]["difference"]["mean"] == 0.0 and difference["a"] == difference["b"]
        )
