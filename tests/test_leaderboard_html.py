"""``vosbench leaderboard --format html``: a self-contained page whose numbers are the CSV's, with
hostile names escaped; then the same page in a real headless Chromium (console clean, sorting,
drill-down, numbers equal to the CSV's)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from vosbench.records.schema import METRICS
from tests.support.browser import Browser, chromium_or_skip
from tests.support.cli import invoke

GOLDEN_RUNS = Path(__file__).resolve().parent / "golden" / "runs"
HOSTILE = "<img src=x onerror=window.xss=1>"  # a model name and a sequence name: no '/', so a legal folder name
HOSTILE_RUN = "<script>alert(1)<!--"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Path]:
    """The golden runs plus a run whose model, run id and sequence are HTML, and a report for one
    run; the page written once for the module."""
    base = tmp_path_factory.mktemp("html")
    runs = base / "runs"
    shutil.copytree(GOLDEN_RUNS, runs)
    src = runs / "davis16-val" / "lab" / "20261121-090000-bbbbbb"
    bad = runs / "davis16-val" / HOSTILE / HOSTILE_RUN
    shutil.copytree(src, bad)
    summary = json.loads((src / "summary.json").read_text())
    summary["model"]["name"] = HOSTILE
    summary["run_id"] = HOSTILE_RUN
    summary["dataset"]["sequences"] = ["blackswan", HOSTILE]
    (bad / "summary.json").write_text(json.dumps(summary))
    (bad / "per_object.csv").write_text((src / "per_object.csv").read_text().replace("\ndog,", f"\n{HOSTILE},"))
    reported = runs / "davis16-val" / "resnet18" / "20261122-080000-eeeeee"
    (reported / "report").mkdir()
    (reported / "report" / "report.html").write_text("<!DOCTYPE html><title>report</title><p>report</p>")
    out = base / "site"
    common = ["--runs", runs, "--with-published", "--dataset", "davis16-val,davis17-val,jhmdb-split1,ytvos18-val"]
    invoke("leaderboard", *common, "--format", "html", "--out", out, code=0)
    csv_path = base / "board.csv"
    invoke("leaderboard", *common, "--ci", "--decimals", "1", "--out", csv_path, code=0)
    return {"page": out / "index.html", "csv": csv_path, "runs": runs, "reported": reported, "hostile": bad}


class Page(HTMLParser):
    """The page's tables as data: per table, per entry, the main row's cell texts; every link."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.links: list[str] = []
        self.srcs: list[str] = []
        self.tags: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._depth = 0  # nesting of <table>: only the boards' own rows count

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        if "href" in a:
            self.links.append(a["href"] or "")
        if "src" in a:
            self.srcs.append(a["src"] or "")
        if tag == "table":
            self._depth += 1
            if "board" in (a.get("class") or ""):
                self.tables.append([])
        elif tag == "tr" and self._depth == 1 and a.get("class") == "main":
            self._row = []
        elif tag == "td" and self._row is not None and self._depth == 1:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "table":
            self._depth -= 1
        elif tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def expected_tables(csv_path: Path) -> dict[str, list[tuple[str, list[str]]]]:
    """Per dataset, in CSV order: (model, the metric values as printed, '-' where empty)."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    rows = csv_rows(csv_path)
    for r in rows:
        present = [m.key for m in METRICS if any(x.get(m.key) for x in rows if x["dataset"] == r["dataset"])]
        out.setdefault(r["dataset"], []).append((r["model"], [r[m] or "-" for m in present]))
    return out


def test_page_is_self_contained_and_its_numbers_are_the_csvs(site):
    text = site["page"].read_text(encoding="utf-8")
    page = parse(site["page"])
    assert page.srcs == []  # no image, script or style file: everything is inline
    assert all(not link.startswith(("http:", "https:", "//", "/", "file:")) for link in page.links), page.links
    assert "<link" not in text and "@import" not in text and "url(" not in text
    expected = expected_tables(site["csv"])
    assert len(page.tables) == len(expected)
    for rows, (dataset, want) in zip(page.tables, expected.items()):
        assert len(rows) == len(want), dataset
        for cells, (model, values) in zip(rows, want):
            assert model in cells[0]
            shown = cells[-len(values):]
            # the same digits: the CSV's repr of the rounded value, the page's fixed-point text
            assert [v if v == "-" else float(v) for v in shown] == [v if v == "-" else float(v) for v in values]


def test_hostile_names_are_escaped(site):
    text = site["page"].read_text(encoding="utf-8")
    assert HOSTILE not in text and HOSTILE_RUN not in text
    assert "&lt;img src=x onerror=window.xss=1&gt;" in text  # the model and the sequence, as text
    assert "&lt;script&gt;alert(1)&lt;!--" in text  # the run id, in the hover text
    page = parse(site["page"])
    assert "img" not in page.tags and page.tags.count("script") == 1  # the page's own script only


def test_drill_down_links_the_report_or_says_how_to_make_one(site):
    page = parse(site["page"])
    reports = [link for link in page.links if link.endswith("report/report.html")]
    assert len(reports) == 1
    assert (site["page"].parent / reports[0]).resolve() == (site["reported"] / "report" / "report.html").resolve()
    text = site["page"].read_text(encoding="utf-8")
    assert text.count("No report for this run yet") == sum(1 for r in csv_rows(site["csv"]) if r["kind"] == "run") - 1


def test_html_needs_an_out_folder(tmp_path):
    res = invoke("leaderboard", "--runs", GOLDEN_RUNS, "--format", "html", code=2)
    assert res.output.strip().splitlines()[-1] == "Error: --format html writes a folder: give it with --out DIR"
    res = invoke("leaderboard", "--runs", GOLDEN_RUNS, "--format", "html", "--out", tmp_path, "--per-sequence", code=2)
    assert "--per-sequence is for md, csv and json" in res.output and "Traceback" not in res.output
    (tmp_path / "file").write_text("")
    res = invoke("leaderboard", "--runs", GOLDEN_RUNS, "--format", "html", "--out", tmp_path / "file", code=2)
    assert res.output.strip() == f"Error: --out {tmp_path / 'file'} is a file; --format html writes a folder (DIR/index.html)"
    res = invoke("leaderboard", "--runs", GOLDEN_RUNS, "--format", "csv", "--out", tmp_path, code=2)
    assert res.output.strip() == f"Error: --out {tmp_path} is a folder; give a file name (only --format html writes a folder)"


# --- in a real browser ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    b = Browser(chromium_or_skip())
    yield b
    b.close()


CELLS = "[...document.querySelectorAll('#t{t} > tbody > tr.main')].map(r => [...r.cells].map(c => c.textContent.trim()))"


def test_browser_loads_sorts_and_shows_the_csvs_numbers(site, browser):
    browser.open(site["page"].resolve().as_uri())
    assert browser.errors == []
    assert browser.evaluate("window.xss") is None
    assert browser.evaluate("document.images.length") == 0
    expected = expected_tables(site["csv"])
    for t, (dataset, want) in enumerate(expected.items()):
        rows = browser.evaluate(CELLS.format(t=t))
        assert [[c for c in r[-len(values):]] for r, (_, values) in zip(rows, want)] == [
            [v if v == "-" else f"{float(v):.1f}" for v in values] for _, values in want], dataset
    # text column: A to Z (the initial order is by J&F, resnet18 first)
    before = browser.evaluate(CELLS.format(t=0))
    browser.click("#t0 thead th:nth-child(1) button")
    after = browser.evaluate(CELLS.format(t=0))
    models = [r[0].lstrip("▸ ").strip() for r in after]
    assert models == sorted(models) and after != before and sorted(after) == sorted(before)
    # J-Decay: lower is better, so the first click sorts ascending, the second descending
    heads = browser.evaluate("[...document.querySelectorAll('#t0 thead th')].map(h => h.textContent)")
    col = heads.index("J-Decay") + 1
    browser.click(f"#t0 thead th:nth-child({col}) button")
    decays = [float(r[col - 1]) for r in browser.evaluate(CELLS.format(t=0))]
    assert decays == sorted(decays) and decays != [float(r[col - 1]) for r in after]
    assert browser.evaluate(f"document.querySelector('#t0 thead th:nth-child({col})').getAttribute('aria-sort')") \
        == "ascending"
    browser.click(f"#t0 thead th:nth-child({col}) button")
    assert [float(r[col - 1]) for r in browser.evaluate(CELLS.format(t=0))] == sorted(decays, reverse=True)
    # the drill-down of a row moves with it and opens on a click
    assert browser.evaluate("document.querySelector('#t0 > tbody tr.drill').hidden") is True
    browser.click("#t0 > tbody button.open")
    seqs = browser.evaluate("[...document.querySelectorAll('#t0 > tbody:first-of-type tr.drill table.seqs td:first-child')]"
                            ".map(c => c.textContent)")
    assert browser.evaluate("document.querySelector('#t0 > tbody tr.drill').hidden") is False and seqs
    assert browser.errors == []


def test_browser_missing_values_sort_last(site, browser):
    browser.open(site["page"].resolve().as_uri())
    heads = browser.evaluate("[...document.querySelectorAll('#t1 thead th')].map(h => h.textContent)")
    col = heads.index("J-Mean") + 1
    for _ in range(2):  # descending, then ascending: '-' stays at the end both times
        browser.click(f"#t1 thead th:nth-child({col}) button")
        vals = [r[col - 1] for r in browser.evaluate(CELLS.format(t=1))]
        dash = vals.index("-") if "-" in vals else len(vals)
        assert all(v == "-" for v in vals[dash:]) and all(v != "-" for v in vals[:dash])
    assert browser.errors == []
