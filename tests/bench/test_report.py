"""How `make bench` prints its figures and the aims of the whole run."""

from __future__ import annotations

from bench.report import Report, render, render_aims


def test_a_report_renders_as_a_markdown_table_with_its_aims() -> None:
    report = Report("pipeline", ["what", "rate"], [["routing", "7,086/s"]])
    report.aims += [("routing ≥ 4,000/s: 7,086/s", True), ("idle < 5%: 7.0%", False)]
    text = render(report)
    assert text.splitlines()[:4] == [
        "## pipeline",
        "",
        "| what    | rate    |",
        "|---------|---------|",
    ]
    assert "- MET    routing ≥ 4,000/s: 7,086/s" in text
    assert "- MISSED idle < 5%: 7.0%" in text


def test_the_run_ends_with_every_benchmarks_aims_counted() -> None:
    idle = Report("idle", ["what"], aims=[("stack idle < 5% of a core: 7.0%", False)])
    pipeline = Report(
        "pipeline", ["what"], aims=[("routing ≥ 4,000/s", True), ("p99 < 100 ms", True)]
    )
    lines = render_aims([idle, pipeline]).splitlines()
    assert lines[0] == "## Aims of this run: 2 of 3 met"
    assert lines[2:] == [
        "- MISSED stack idle < 5% of a core: 7.0% (idle)",
        "- MET    routing ≥ 4,000/s (pipeline)",
        "- MET    p99 < 100 ms (pipeline)",
    ]
