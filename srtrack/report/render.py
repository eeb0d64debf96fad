"""Tables as Markdown, LaTeX (booktabs) and CSV, each with the run ids or the source behind every number."""

from __future__ import annotations

import csv
import io

from srtrack.report.tables import REFERENCES, RGB_TRACKER, Cell, Table
from srtrack.report.uncertainty import Interval

DASH = "–"
# the trackers every cell's difference is reported against (the RGB tracker: retained RGB scores only)
INTERVAL_REFERENCES = (*REFERENCES, RGB_TRACKER)


ROW_PREFIX = {"ours": "ours: ", "baseline": "baseline: ", "published": ""}
MARKS_NOTE = ("▲ / ▼: above / below full fine-tuning, the 95 % paired bootstrap interval of the per-sequence "
              "difference excluding 0; ≈: inside the noise.")


def number(cell: Cell | None, decimals: int = 1) -> str:
    if cell is None or cell.value is None:
        return DASH
    text = f"{cell.value:.{decimals}f}" + (f" ± {cell.std:.{decimals}f}" if cell.std is not None else "")
    mark = cell.intervals["full"].mark if "full" in cell.intervals else ""
    return text + ("†" if cell.flagged else "") + (f" {mark}" if mark else "")


def noise_sentences(table: Table) -> list[str]:
    """In words: which differences to each reference are inside the noise and which are not."""
    lines = []
    for reference in INTERVAL_REFERENCES:
        inside, outside = [], []
        for row in table.rows:
            for column in table.columns:
                interval = row.cells[column].intervals.get(reference) if column in row.cells else None
                if interval is not None:
                    (inside if interval.mark == "≈" else outside).append(
                        f"{row.name} on {column.header} {interval.text()}")
        if inside or outside:
            n = max(i.sequences for row in table.rows for c in row.cells.values() for i in c.intervals.values())
            lines.append(f"Against {reference} ({n} paired sequences, points): inside the noise: "
                         f"{'; '.join(inside) or 'none'}; outside it: {'; '.join(outside) or 'none'}.")
    return lines


def _row_runs(row) -> list[str]:
    """The row's runs in column and seed order, each once."""
    return list(dict.fromkeys(run for cell in row.cells.values() for run in cell.runs))


def markdown(tables: list[Table], notes: list[str], warnings: list[str]) -> str:
    """One Markdown document with every table, its caption, and the runs and sources behind it."""
    out = ["# Tables", ""]
    out += [f"> warning: {w}" for w in warnings] + ([""] if warnings else [])
    for i, table in enumerate(tables, 1):
        out += [f"## Table {i}: {table.title}", "", table.caption, "",
                "| tracker | " + " | ".join(c.header for c in table.columns) + " |",
                "|---|" + "---:|" * len(table.columns)]
        for row in table.rows:
            cells = []
            for column in table.columns:
                cell = row.cells.get(column)
                text = number(cell, column.decimals)
                if cell is not None and cell.rank == 1:
                    text = f"**{text}**"
                elif cell is not None and cell.rank == 2:
                    text = f"_{text}_"
                cells.append(text)
            out.append(f"| {ROW_PREFIX[row.kind]}{row.name} | " + " | ".join(cells) + " |")
        out.append("")
        noise = noise_sentences(table)
        if noise:
            out += [MARKS_NOTE, *noise, ""]
        ours = [f"{row.name}: " + ", ".join(_row_runs(row)) for row in table.rows if row.kind != "published"]
        out.append("MLflow runs: " + "; ".join(ours) + ".")
        sources = {}
        for row in table.rows:
            for cell in row.cells.values():
                if cell.source:
                    sources.setdefault(row.name, set()).add(cell.source)
                if cell.flagged:
                    sources.setdefault(row.name, set()).add(f"† {cell.flagged}")
        if sources:
            out.append("")
            out.append("Sources: " + "; ".join(f"{name}: {' / '.join(sorted(s))}" for name, s in sources.items()) + ".")
        out.append("")
    out += [f"Note: {n}" for n in notes]
    return "\n".join(out).rstrip() + "\n"


HTML_STYLE = ("body{font-family:sans-serif;margin:1em}table{border-collapse:collapse;margin:.5em 0}"
              "td,th{border-bottom:1px solid #ccc;padding:2px 8px;text-align:right}td:first-child,th:first-child"
              "{text-align:left}p{max-width:60em}")


def html_page(tables: list[Table], notes: list[str]) -> str:
    """Every table as one HTML page with its caption and the marks' note (rows and cells as in the
    Markdown; the runs behind each number are in tables.md and tables.csv)."""
    from html import escape

    out = ["<!DOCTYPE html>", "<html><head><meta charset='utf-8'><title>Tables</title>",
           f"<style>{HTML_STYLE}</style></head><body>"]
    for i, table in enumerate(tables, 1):
        out += [f"<h2>Table {i}: {escape(table.title)}</h2>", f"<p>{escape(table.caption)}</p>", "<table>",
                "<tr><th>tracker</th>" + "".join(f"<th>{escape(c.header)}</th>" for c in table.columns) + "</tr>"]
        for row in table.rows:
            cells = []
            for column in table.columns:
                cell = row.cells.get(column)
                text = escape(number(cell, column.decimals))
                rank = cell.rank if cell is not None else None
                cells.append(f"<td>{'<b>' + text + '</b>' if rank == 1 else '<i>' + text + '</i>' if rank == 2 else text}</td>")
            out.append(f"<tr><td>{escape(ROW_PREFIX[row.kind] + row.name)}</td>{''.join(cells)}</tr>")
        out.append("</table>")
        noise = noise_sentences(table)
        out += [f"<p>{escape(line)}</p>" for line in ([MARKS_NOTE, *noise] if noise else [])]
    out += [f"<p>Note: {escape(n)}</p>" for n in notes]
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _latex_escape(text: str) -> str:
    for char, escaped in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#"),
                          ("±", r"$\pm$"), ("†", r"$^\dagger$"), (DASH, "--"),
                          ("▲", r"$^\blacktriangle$"), ("▼", r"$^\blacktriangledown$"), ("≈", r"$^\approx$")):
        text = text.replace(char, escaped)
    return text


def latex(table: Table) -> str:
    """A booktabs table environment."""
    lines = [r"\begin{table}[t]", r"\centering", rf"\caption{{{_latex_escape(table.caption)}}}",
             rf"\label{{tab:{table.key}}}", r"\begin{tabular}{l" + "r" * len(table.columns) + "}", r"\toprule",
             "Tracker & " + " & ".join(_latex_escape(c.header) for c in table.columns) + r" \\", r"\midrule"]
    previous = None
    for row in table.rows:
        if previous == "published" and row.kind != "published":
            lines.append(r"\midrule")
        previous = row.kind
        cells = []
        for column in table.columns:
            cell = row.cells.get(column)
            text = _latex_escape(number(cell, column.decimals))
            if cell is not None and cell.rank == 1:
                text = rf"\textbf{{{text}}}"
            elif cell is not None and cell.rank == 2:
                text = rf"\underline{{{text}}}"
            cells.append(text)
        name = {"published": row.name, "ours": f"Ours ({row.name})", "baseline": f"Baseline ({row.name})"}[row.kind]
        lines.append(_latex_escape(name) + " & "
                     + " & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if any(cell.intervals for row in table.rows for cell in row.cells.values()):
        lines.append(r"\par\footnotesize " + _latex_escape(MARKS_NOTE))
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def table_metrics(tables: list[Table]) -> dict[str, float]:
    """Every cell of our rows (ours and baselines) as an MLflow metric of the report run, so that the
    tables' means can be queried and charted: `<table>/<row>/<benchmark>/<measure>` (percent; a score
    on another modality's split kept: `.../retained`)."""
    metrics = {}
    for table in tables:
        for row in table.rows:
            if row.kind == "published":
                continue
            for column, cell in row.cells.items():
                if column.mlflow is None or cell.value is None:
                    continue
                measure = column.mlflow.rsplit("/", 1)[-1] + ("/retained" if column.tuned_on else "")
                metrics[f"{table.key}/{row.name}/{column.benchmark}/{measure}"] = cell.value
    return metrics


def _interval_fields(interval: Interval | None) -> list[str]:
    """diff, low, high of an interval for the CSV; blanks without one."""
    return ["", "", ""] if interval is None else [f"{v:.4f}" for v in (interval.diff, interval.low, interval.high)]


def long_csv(tables: list[Table]) -> str:
    """Every cell of every table, one line each, with its runs or source."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    references = INTERVAL_REFERENCES
    writer.writerow(["table", "row", "kind", "benchmark", "metric", "value", "std", "n", "rank", "mlflow_runs",
                     "source", "known_issue", "sequences"]
                    + [f"vs_{r}_{part}" for r in references for part in ("diff", "low", "high")])
    for table in tables:
        for row in table.rows:
            for column in table.columns:
                cell = row.cells.get(column)
                if cell is None:
                    continue
                intervals = [cell.intervals.get(r) for r in references]
                sequences = next((i.sequences for i in intervals if i is not None), "")
                writer.writerow([table.key, row.name, row.kind, column.benchmark, column.metric,
                                 "" if cell.value is None else f"{cell.value:.4f}",
                                 "" if cell.std is None else f"{cell.std:.4f}", cell.n or "", cell.rank or "",
                                 " ".join(cell.runs), cell.source, cell.flagged, sequences]
                                + [text for interval in intervals for text in _interval_fields(interval)])
    return buffer.getvalue()
