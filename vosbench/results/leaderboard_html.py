"""The leaderboard as one self-contained web page (``vosbench leaderboard --format html --out DIR``).

``DIR/index.html`` holds everything inline (CSS, a few lines of JavaScript, SVG whiskers; no
external file, font or library), so it opens from disk without a server. It shows the tables that
:func:`vosbench.results.leaderboard.build` makes, with the same values as the CSV (the same rows,
formatted by :func:`~vosbench.results.leaderboard.fmt_value` with the same decimals):

- every column sorts on a click (numbers by their full value, missing values last);
- a metric with a confidence interval gets a whisker on a scale shared by its column;
- published rows are tinted and tagged *published*; they are never bold;
- hovering a row's model, checkpoint or protocol shows the checkpoint and every protocol setting;
- a row's button opens its per-sequence scores and a relative link to the run's ``report/report.html``
  (a run without a report says which command makes one).

Every text that comes from a run folder (model, checkpoint, run id, sequence names, notes) is
HTML-escaped; no data is embedded in the script, which reads only ``data-`` attributes.
"""

from __future__ import annotations

import html
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from vosbench.core.errors import VosbenchError
from vosbench.core.io import atomic_write_text
from vosbench.core.version import __version__
from vosbench.records.reader import RunRecord, per_sequence_jf, per_video_pck
from vosbench.records.schema import METRIC_BY_KEY
from vosbench.results.leaderboard import _best, fmt_value, protocol_footnotes
from vosbench.results.rows import Leaderboard, Row, Table

REPORT = Path("report") / "report.html"  # where ``vosbench report RUN_DIR`` writes by default


@dataclass
class Drill:
    """What a run row's drill-down shows: its per-sequence scores (percent) and its report."""

    metric: str
    values: dict[str, float] = field(default_factory=dict)
    report: str | None = None  # link relative to the page, or None when the run has no report
    problem: str = ""  # why the per-sequence scores could not be read


def drilldowns(board: Leaderboard, records: Iterable[RunRecord], page_dir: Path) -> dict[Path, Drill]:
    """Per run folder: per-sequence J&F (PCK@0.1 per video for keypoint runs) and the relative link
    from ``page_dir`` to the run's report when ``RUN_DIR/report/report.html`` exists."""
    by_folder = {r.run_dir.resolve(): r for r in records}
    out: dict[Path, Drill] = {}
    for row in board.rows:
        if row.kind != "run" or row.run_dir is None:
            continue
        folder = row.run_dir.resolve()
        record = by_folder.get(folder)
        pose = record is not None and record.task == "pose"
        drill = Drill(metric="PCK@0.1" if pose else "J&F")
        try:
            per_seq = per_video_pck(folder) if pose else per_sequence_jf(folder)
            drill.values = {seq: 100.0 * v for seq, v in per_seq.items()}
        except VosbenchError as e:
            drill.problem = str(e)
        if (folder / REPORT).is_file():
            drill.report = Path(os.path.relpath(folder / REPORT, page_dir.resolve())).as_posix()
        out[folder] = drill
    return out


def esc(text: object) -> str:
    """HTML-escape any text (quotes too, so it is safe inside attributes)."""
    return html.escape(str(text), quote=True)


def _scale(table: Table, key: str) -> tuple[float, float] | None:
    """The range a column's whiskers share: every value and interval bound of the table."""
    points = [v for r in table.rows for v in (r.metrics.get(key), *r.ci.get(key, ()))
              if v is not None and math.isfinite(v)]
    if not points:
        return None
    lo, hi = min(points), max(points)
    pad = max(hi - lo, 1.0) * 0.05
    return lo - pad, hi + pad


def whisker(value: float, ci: tuple[float, float] | None, scale: tuple[float, float]) -> str:
    """An inline SVG: the interval as a line with end caps and the value as a dot, on ``scale``."""
    width, lo, hi = 64.0, scale[0], scale[1]

    def x(v: float) -> float:
        return round(2 + (width - 4) * (v - lo) / (hi - lo), 1)

    parts = [f'<svg class="wh" width="{width:g}" height="10" viewBox="0 0 {width:g} 10" aria-hidden="true">']
    if ci is not None:
        a, b = x(ci[0]), x(ci[1])
        parts.append(f'<path d="M{a} 5H{b}M{a} 2V8M{b} 2V8"/>')
    parts.append(f'<circle cx="{x(value)}" cy="5" r="2.5"/></svg>')
    return "".join(parts)


def _metric_cell(row: Row, key: str, decimals: int, best: str | None, scale: tuple[float, float] | None,
                 level: float | None) -> str:
    value = row.metrics.get(key)
    text = fmt_value(value, decimals)
    if value is None or text == "-":
        return '<td class="num" data-v="">-</td>'
    ci = row.ci.get(key)
    if ci is not None:
        tip = f"{100 * (level or 0.95):g}% CI [{ci[0]:.{decimals}f}, {ci[1]:.{decimals}f}]"
    elif row.kind == "published":
        tip = "published number: no interval"
    else:
        tip = "no interval"
    cls = "num best" if row.kind == "run" and text == best else "num"
    svg = whisker(value, ci, scale) if scale is not None else ""
    return (f'<td class="{cls}" data-v="{value!r}" data-key="{esc(key)}" title="{esc(tip)}">'
            f'<span class="v">{text}</span>{svg}</td>')


def _hover(row: Row, footnotes: dict[str, str]) -> str:
    """The text shown on hover: checkpoint and every protocol setting (published: source and note)."""
    if row.kind == "published":
        lines = [f"published: {row.info.get('source', '')}", f"checkpoint: {row.checkpoint}",
                 f"protocol: {row.info.get('protocol_note', '')}"]
        if row.info.get("note"):
            lines.append(f"note: {row.info['note']}")
        return "\n".join(lines)
    lines = [f"checkpoint: {row.checkpoint}", f"protocol: {footnotes.get(row.ref, row.protocol)}"]
    if row.sequences:
        lines.append(f"sequences: {row.sequences}")
    if row.tuned:
        lines.append(f"tuned on: {row.tuned}")
    lines.append(f"run: {row.run_id} ({row.created})")
    return "\n".join(lines)


def _drill_html(row: Row, drill: Drill | None, decimals: int, span: int) -> str:
    """The hidden second line of an entry: per-sequence scores and the report link."""
    if row.kind == "published":
        body = (f"<p>{esc(row.info.get('source', ''))}</p><p>Protocol: {esc(row.info.get('protocol_note', ''))}</p>"
                + (f"<p>Note: {esc(row.info['note'])}</p>" if row.info.get("note") else ""))
    elif drill is None:
        body = "<p>No per-sequence data: the run folder was not read.</p>"
    else:
        folder = esc(row.run_dir) if row.run_dir else ""
        if drill.report is not None:
            link = f'<p><a class="report" href="{esc(drill.report)}">Report of this run</a> ({folder})</p>'
        else:
            link = (f'<p class="noreport">No report for this run yet: <code>vosbench report {folder}</code> '
                    "writes one into its folder; then write this page again to link it.</p>")
        if drill.problem:
            table = f"<p>Per-sequence scores not shown: {esc(drill.problem)}</p>"
        else:
            cells = "".join(
                f'<tr><td>{esc(seq)}</td><td class="num">{fmt_value(v, decimals)}</td>'
                f'<td><span class="bar" style="width:{max(0.0, min(v, 100.0)):.1f}%"></span></td></tr>'
                for seq, v in drill.values.items())
            table = (f'<table class="seqs"><thead><tr><th>Sequence</th><th>{esc(drill.metric)} (%)</th>'
                     f"<th></th></tr></thead><tbody>{cells}</tbody></table>")
        body = link + table
    return f'<tr class="drill" hidden><td colspan="{span}">{body}</td></tr>'


def _table_html(board: Leaderboard, table: Table, drills: dict[Path, Drill], decimals: int,
                footnotes: dict[str, str], level: float | None, index: int) -> str:
    m = METRIC_BY_KEY[table.metric]
    mixed = len({r.sequences for r in table.rows if r.kind == "run"}) > 1
    heads = [("Model", "text"), ("Checkpoint", "text"), ("Protocol", "text")]
    tuned = any(r.tuned for r in table.rows)  # as in markdown: a Tuned on column only where a run was tuned
    heads += [("Sequences", "text")] * mixed + [("Run", "text")] * board.all_runs + [("Tuned on", "text")] * tuned
    heads += [(c.header, "num-" + ("hi" if c.higher_is_better else "lo")) for c in table.columns]
    heads += [("vs best", "text")] * board.significance
    ths = "".join(f'<th data-type="{t}" aria-sort="none"><button type="button">{esc(h)}</button></th>'
                  for h, t in heads)
    best = {c.key: _best(table, c, decimals) for c in table.columns}
    scales = {c.key: _scale(table, c.key) for c in table.columns}
    bodies = []
    for r in table.rows:
        hover = esc(_hover(r, footnotes))
        tag = ' <span class="tag">published</span>' if r.kind == "published" else ""
        cells = [f'<td class="model" data-v="{esc(r.model.lower())}" title="{hover}">'
                 f'<button type="button" class="open" aria-expanded="false" title="per-sequence scores">'
                 f"&#9656;</button> {esc(r.model)}{tag}</td>",
                 f'<td data-v="{esc(r.checkpoint.lower())}" title="{hover}">{esc(r.checkpoint)}</td>',
                 f'<td class="proto" data-v="{esc(r.protocol.lower())} {esc(r.ref)}" title="{hover}">{esc(r.protocol)} '
                 f"[{esc(r.ref)}]</td>"]
        if mixed:
            cells.append(f'<td data-v="{esc(r.sequences)}">{esc(r.sequences or "-")}</td>')
        if board.all_runs:
            cells.append(f'<td data-v="{esc(r.run_id)}">{esc(r.run_id or "-")}</td>')
        if tuned:
            cells.append(f'<td data-v="{esc(r.tuned)}">{esc(r.tuned or "-")}</td>')
        cells += [_metric_cell(r, c.key, decimals, best[c.key], scales[c.key], level) for c in table.columns]
        if board.significance:
            cells.append(f'<td data-v="{esc(r.significance)}">{esc(r.significance or "-")}</td>')
        drill = drills.get(r.run_dir.resolve()) if r.run_dir is not None else None
        bodies.append(f'<tbody class="entry {esc(r.kind)}"><tr class="main">{"".join(cells)}</tr>'
                      f"{_drill_html(r, drill, decimals, len(heads))}</tbody>")
    direction = "higher is better" if m.higher_is_better else "lower is better"
    return (f'<section><h2>{esc(table.dataset)}</h2><p class="sub">Sorted by {esc(m.header)} ({direction}); '
            f"values in %. Click a column to sort, &#9656; for the per-sequence scores.</p>"
            f'<div class="wrap"><table class="board" id="t{index}"><thead><tr>{ths}</tr></thead>{"".join(bodies)}'
            "</table></div></section>")


def to_html(board: Leaderboard, drills: dict[Path, Drill], decimals: int = 1, level: float | None = None) -> str:
    """The whole page as one string (see the module docstring)."""
    refs = protocol_footnotes(board.protocols)
    footnotes = {ref: line for (ref, _), line in zip(board.protocols, refs)}
    tables = "".join(_table_html(board, t, drills, decimals, footnotes, level, i) for i, t in enumerate(board.tables))
    if not board.tables:
        tables = "<p>No runs found.</p>"
    protos = "".join(f"<li>{esc(line)}</li>" for line in refs)
    published = "".join(
        f"<li>[{esc(r.ref)}] {esc(r.model)} ({esc(r.checkpoint)}), {esc(r.dataset)}: {esc(r.info.get('source', ''))}"
        f"</li>" for r in board.published)
    notes = "".join(f"<li>{esc(n)}</li>" for n in board.notes)
    legend = ("<p class=\"legend\"><span class=\"swatch run\"></span> vosbench run (bold: best run per column) "
              "<span class=\"swatch published\"></span> published number (not a vosbench run; read its "
              "protocol note before comparing). Whiskers: the bootstrap interval over sequences, on a scale "
              "shared by the column; the dot is the value."
              + (" Tuned on: the run's protocol settings were chosen by <code>vosbench tune</code> on that data, "
                 "then run on this dataset." if any(r.tuned for r in board.rows) else "") + "</p>")
    return "".join([
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        f"<title>vosbench leaderboard</title><style>{CSS}</style></head><body>",
        f"<h1>vosbench leaderboard</h1><p class=\"sub\">vosbench {esc(__version__)}; values in percent.</p>",
        legend, tables,
        f"<h2>Protocols</h2><ul class=\"foot\">{protos}</ul>" if protos else "",
        f"<h2>Published rows</h2><ul class=\"foot\">{published}</ul>" if published else "",
        f"<h2>Notes</h2><ul class=\"foot\">{notes}</ul>" if notes else "",
        f"<script>{JS}</script></body></html>\n",
    ])


def write_html(board: Leaderboard, records: Iterable[RunRecord], out_dir: Path, decimals: int = 1,
               level: float | None = None) -> Path:
    """Write ``out_dir/index.html`` (the folder is made when missing) and return its path."""
    page = out_dir / "index.html"
    text = to_html(board, drilldowns(board, records, out_dir), decimals, level)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(page, text)
    page.chmod(0o644)  # a page to publish: readable by a web server, like any file the user makes
    return page


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em auto;max-width:1500px;padding:0 1em;color:#222}
h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.2em;margin:1.4em 0 .3em}
.sub{color:#666;margin:.2em 0 .6em}
table.board{border-collapse:collapse;width:100%}
.board th,.board td{padding:3px 8px;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:middle}
.board th button{font:inherit;font-weight:600;background:none;border:0;padding:0;cursor:pointer;color:#124}
.board th[aria-sort=ascending] button::after{content:" \\25B2"}
.board th[aria-sort=descending] button::after{content:" \\25BC"}
.board td.num,.board td.proto{text-align:right;white-space:nowrap}.board td.proto{text-align:left}
.wrap{overflow-x:auto}
.board td.best .v{font-weight:700}
.board tbody.published tr.main{background:#fff7e0;font-style:italic}
.tag{font-size:.75em;font-style:normal;background:#e9b949;color:#402d00;border-radius:3px;padding:0 4px}
button.open{font:inherit;background:none;border:0;cursor:pointer;padding:0 2px;color:#124}
button.open[aria-expanded=true]{transform:rotate(90deg)}
svg.wh{margin-left:6px;vertical-align:middle}svg.wh path{stroke:#3b6ea5;stroke-width:1.5;fill:none}
svg.wh circle{fill:#1f3b5a}.published svg.wh circle{fill:#b07d00}
tr.drill td{background:#f7f9fc;padding:6px 16px}
table.seqs{border-collapse:collapse;margin:.3em 0}table.seqs td,table.seqs th{padding:1px 8px;text-align:left}
table.seqs td.num{text-align:right}
.bar{display:inline-block;height:8px;background:#7fa6d1;min-width:1px;vertical-align:middle}
table.seqs td:last-child{width:220px}
.legend .swatch{display:inline-block;width:12px;height:12px;border:1px solid #ccc;vertical-align:middle}
.swatch.run{background:#fff}.swatch.published{background:#fff7e0}
ul.foot{color:#444;font-size:.9em}
code{background:#f0f0f0;padding:0 3px}
"""

# Sorting reorders each table's <tbody> entries (a row and its drill-down move together) by the
# clicked column's data-v (numbers: the full value; missing values always last). A metric sorts
# best first on the first click; text columns A to Z.
JS = """
(function(){
function cmp(a,b,num,dir){
  if(num){var x=a===''?null:parseFloat(a),y=b===''?null:parseFloat(b);
    if(x===null||y===null)return x===y?0:(x===null?1:-1);return dir*(x-y);}
  return dir*a.localeCompare(b);}
document.querySelectorAll('table.board').forEach(function(t){
  var ths=t.tHead.rows[0].cells;
  Array.prototype.forEach.call(ths,function(th,i){
    th.querySelector('button').addEventListener('click',function(){
      var type=th.dataset.type,num=type.indexOf('num')===0,first=type==='num-hi'?'descending':'ascending';
      var now=th.getAttribute('aria-sort'),next=now===first?(first==='ascending'?'descending':'ascending'):first;
      Array.prototype.forEach.call(ths,function(h){h.setAttribute('aria-sort','none');});
      th.setAttribute('aria-sort',next);var dir=next==='ascending'?1:-1;
      var bodies=Array.prototype.slice.call(t.tBodies);
      bodies.sort(function(a,b){return cmp(a.rows[0].cells[i].dataset.v,b.rows[0].cells[i].dataset.v,num,dir);});
      bodies.forEach(function(b){t.appendChild(b);});});});
  t.addEventListener('click',function(e){var b=e.target.closest('button.open');if(!b)return;
    var drill=b.closest('tbody').rows[1],open=b.getAttribute('aria-expanded')!=='true';
    b.setAttribute('aria-expanded',open?'true':'false');drill.hidden=!open;});});
})();
"""
