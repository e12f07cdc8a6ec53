"""A benchmark's figures, and how they are printed."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    aims: list[tuple[str, bool]] = field(default_factory=list)  # (what was measured, met)
    notes: list[str] = field(default_factory=list)

    @property
    def aims_met(self) -> bool:
        return all(met for _, met in self.aims)


def table(columns: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, aligned, so the output can be pasted into docs/benchmarks.md as is."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(columns, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(columns), rule, *(line(row) for row in rows)])


def render(report: Report) -> str:
    parts = [f"## {report.title}", "", table(report.columns, report.rows), ""]
    parts += [f"- {'MET   ' if met else 'MISSED'} {text}" for text, met in report.aims]
    parts += [f"- {note}" for note in report.notes]
    return "\n".join(parts)


def render_aims(reports: list[Report]) -> str:
    """Every benchmark's aims in one list at the end of a run: the issue tables' figures,
    read off one `make bench`."""
    met = sum(met for report in reports for _, met in report.aims)
    total = sum(len(report.aims) for report in reports)
    parts = [f"## Aims of this run: {met} of {total} met", ""]
    for report in reports:
        parts += [
            f"- {'MET   ' if met else 'MISSED'} {text} ({report.title})"
            for text, met in report.aims
        ]
    return "\n".join(parts)
