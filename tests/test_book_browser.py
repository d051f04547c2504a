"""The built HTML book opened in headless Chromium, offline, as a reader sees it.

Checked on every page: each formula is typeset by the book's own MathJax (no raw ``\\(``, ``\\[`` or ``$`` left in
the rendered text), every citation links to an entry of the references page, every glued value of a chapter is
pasted, every chapter figure loads, is numbered, captioned and has alt text, no chapter prints a Python warning and
no page shows a path of the build machine. The defects a reviewer found (issue 41) are looked for with the detectors
of ``tests/book_checks.py``: a figure whose plotting area is blank, a missing value, raw float or two numbers run
together in a table (in its text or, measured in the browser, in its layout), raw MyST markup, an author-facing
phrase, a build path, and a leaderboard row whose reproduce command does not re-run it or whose seeds cell reads as
a count. Every defect of every page is reported at once, page by page.

The list of defects (``defects.txt``) and screenshots are kept in ``_build/browser/``: one page per part of the book
(``chapters.png``, ``benchmark.png``, ``reference.png``) and the views a reviewer checks (:data:`REVIEW_VIEWS`:
chapter 1's figure of the share of masked pixels, chapter 6's Findings box, the full-profile results page).

Uses Debian's ``chromium`` binary (``.ci/run`` installs it); skipped, with the reason, when it is absent.
The book is taken from ``$SITSBENCH_BOOK_HTML`` when set, reused from ``_build/html`` when ``make book`` built it
after the last change to a notebook, else chapter 1 is built (quick profile) into ``_build/browser/book``.
"""

import base64
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import book_checks
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
ARTEFACTS = REPO / "_build" / "browser"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=8000"]
GLUE_ROLE = re.compile(r"\{glue:text\}`[^`]+`")


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class RenderedPage(HTMLParser):
    """What a reader sees of a rendered DOM: the visible prose (outside code, scripts and typeset math), the
    images with their alt text and whether a captioned figure holds them, citation links, pasted glue values and
    typeset formulas."""

    SKIPPED = {"script", "style", "pre", "code", "textarea", "mjx-container", "noscript", "svg"}

    def __init__(self):
        super().__init__()
        self.text: list[str] = []
        self.images: list[dict] = []
        self.citations: list[str] = []
        self.pasted = 0
        self.formulas = 0
        self.figcaptions: list[str] = []
        self._stack: list[str] = []
        self._skip = 0
        self._figure: list[dict] = []
        self._caption = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        if tag == "mjx-container":
            self.formulas += 1
        if tag in self.SKIPPED:
            self._skip += 1
        if tag == "figure":
            self._figure.append({"caption": ""})
        if tag == "figcaption":
            self._caption = True
        if tag == "img":
            self.images.append({"src": attrs.get("src") or "", "alt": attrs.get("alt") or "",
                                "figure": self._figure[-1] if self._figure else None})
        if tag == "span" and "pasted-text" in classes:
            self.pasted += 1
        if tag == "a" and self._stack and self._stack[-1] == "bibtex-citation":
            self.citations.append(attrs.get("href") or "")
        self._stack.append("bibtex-citation" if "bibtex-citation" in classes else
                           (self._stack[-1] if self._stack and self._stack[-1] == "bibtex-citation" else tag))

    def handle_endtag(self, tag):
        if tag in self.SKIPPED:
            self._skip = max(0, self._skip - 1)
        if tag == "figure" and self._figure:
            self.figcaptions.append(self._figure.pop()["caption"])
        if tag == "figcaption":
            self._caption = False
        if self._stack:
            self._stack.pop()

    def handle_data(self, data):
        if self._caption and self._figure:
            self._figure[-1]["caption"] += data
        if not self._skip:
            self.text.append(data)


def rendered(chromium: str, page: Path) -> tuple[str, RenderedPage]:
    """The DOM of ``page`` after Chromium loaded it in a 1280 px wide window (scripts run, MathJax typeset) and its
    parse. Chromium opens a copy of the page beside it (removed afterwards) with
    :data:`book_checks.LAYOUT_SCRIPT` added, whose measures of the tables' layout the DOM then holds."""
    copy = page.with_name(f".browser-{page.name}")
    copy.write_text(page.read_text().replace("</body>", book_checks.LAYOUT_SCRIPT + "</body>"))
    try:
        result = subprocess.run([chromium, *CHROMIUM_FLAGS, "--window-size=1280,1600", "--dump-dom", copy.as_uri()],
                                capture_output=True, text=True, timeout=180)
    finally:
        copy.unlink()
    assert result.returncode == 0, f"chromium failed on {page}: {result.stderr[-2000:]}"
    parsed = RenderedPage()
    parsed.feed(result.stdout)
    return result.stdout, parsed


def image_exists(page: Path, source: str) -> bool:
    """Whether an ``<img src>`` of ``page`` points to a non-empty image (a file next to the page or a data URI)."""
    if source.startswith("data:image/"):
        return len(source.split(",", 1)[-1]) > 100
    url = urlparse(source)
    path = Path(unquote(url.path)) if url.scheme == "file" else (page.parent / unquote(url.path))
    return url.scheme in ("", "file") and path.is_file() and path.stat().st_size > 0


def raw_math(text: str) -> list[str]:
    """Pieces of TeX left untypeset in rendered text."""
    return re.findall(r"\\\(.{0,40}|\\\[.{0,40}|\$[^$\s][^$]{0,40}\$?", text)


def built_book(request) -> Path:
    """The book to open (see the module docstring); the chapter-1 build is the session's shared one
    (``chapter_one_book`` in ``conftest.py``), whose run record the chapter-1 test reads."""
    if os.environ.get("SITSBENCH_BOOK_HTML"):
        return Path(os.environ["SITSBENCH_BOOK_HTML"])
    html = REPO / "_build" / "html"
    index = html / "index.html"
    sources = [*(REPO / "notebooks").glob("*.ipynb"), *(REPO / "book").iterdir()]
    if index.is_file() and all(path.stat().st_mtime < index.stat().st_mtime for path in sources):
        return html
    return request.getfixturevalue("chapter_one_book") / "html"


DATA_PARAMETERS = ("dataset", "real_data")
"""The chapter parameters that name the data a run reads."""


def notebook_data_parameters() -> dict[str, dict[str, str]]:
    """Each chapter's data parameters (:data:`DATA_PARAMETERS`) with their default: what a reproduce command
    without ``-p dataset`` reads."""
    defaults = {}
    for notebook in sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            if "parameters" in cell.get("metadata", {}).get("tags", []):
                source = "".join(cell["source"])
                defaults[notebook.stem] = {name: found.group(1) for name in DATA_PARAMETERS
                                           if (found := re.search(rf"^{name}\s*=\s*[\"']([^\"']+)", source, re.M))}
    return defaults


def image_file(page: Path, source: str, chromium: str, scratch: Path) -> Path | bytes | None:
    """A figure's image as a file or bytes for :func:`book_checks.blank_plot_areas` (an SVG is drawn by
    Chromium at its own size first); None for another kind of image."""
    if source.startswith("data:image/png;base64,"):
        return base64.b64decode(source.split(",", 1)[1])
    path = page.parent / unquote(urlparse(source).path)
    if path.suffix.lower() in (".png", ".jpg", ".jpeg"):
        return path
    if path.suffix.lower() != ".svg":
        return None
    size = re.search(r"<svg[^>]*\bwidth=\"([\d.]+)(pt|px)?\"[^>]*\bheight=\"([\d.]+)(pt|px)?\"", path.read_text())
    scale = 4 / 3 if size and size.group(2) == "pt" else 1
    width, height = (round(float(size.group(i)) * scale) for i in (1, 3)) if size else (1200, 900)
    wrapper = scratch / f"{path.stem}.html"
    wrapper.write_text(f'<html><body style="margin:0"><img src="{path.resolve().as_uri()}"></body></html>')
    drawn = scratch / f"{path.stem}.png"
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--window-size={width},{height}", f"--screenshot={drawn}",
                    wrapper.as_uri()], capture_output=True, timeout=180, check=True)
    return drawn


def screenshot(chromium: str, page: Path, target: Path, find: str | None = None) -> None:
    """A 1280 x 1600 screenshot of ``page`` into ``target``: its top, or the stretch of it that shows the element
    returned by the JavaScript expression ``find``. Chromium's screenshot does not follow a scroll, so the page is
    opened twice: a copy of it beside it, with a script that writes where the element lies, then a window tall
    enough to hold the element, cut to the 1600 pixels around it."""
    target.unlink(missing_ok=True)
    top = 0
    if find:
        copy = page.with_name(f".browser-{page.name}")
        script = (f"<script>addEventListener('load', () => setTimeout(() => {{ const e = ({find}); if (e) "
                  "document.body.dataset.view = e.getBoundingClientRect().top + scrollY; }, 500));</script>")
        copy.write_text(page.read_text().replace("</body>", script + "</body>"))
        try:
            dom = subprocess.run([chromium, *CHROMIUM_FLAGS, "--window-size=1280,1600", "--dump-dom", copy.as_uri()],
                                 capture_output=True, text=True, timeout=180, check=True).stdout
        finally:
            copy.unlink()
        position = re.search(r'<body[^>]*data-view="([\d.]+)"', dom)
        assert position, f"{page.name}: the element to screenshot was not found ({find})"
        top = max(0, int(float(position.group(1))) - 100)
    subprocess.run([chromium, *CHROMIUM_FLAGS, f"--window-size=1280,{top + 1600}", f"--screenshot={target}",
                    page.as_uri()], capture_output=True, timeout=180, check=True)
    if top:
        with Image.open(target) as whole:
            whole.crop((0, top, 1280, top + 1600)).save(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 10_000, target


CH1_FIGURE = r"share of masked|masked (?:share|fraction)"
"""How the caption of chapter 1's figure of the share of masked pixels per date reads."""
REVIEW_VIEWS = {
    "ch1_masked_pixels": ("notebooks/01_sits_data.html", "figure",
                          "[...document.querySelectorAll('figure')].find(f => "
                          f"new RegExp({CH1_FIGURE!r}, 'i').test(f.querySelector('figcaption')?.textContent || ''))"),
    "ch6_findings": ("notebooks/06_downstream.html", "Findings box",
                     "[...document.querySelectorAll('.admonition')].find(a => a.classList.contains('findings') "
                     "|| /^\\s*findings\\b/i.test(a.querySelector('.admonition-title')?.textContent || ''))"),
    "full_results": ("full_results.html", "page", None),
}
"""The views of the book that a reviewer looks at (issue 41), screenshot into ``_build/browser/<name>.png``:
chapter 1's figure of the share of masked pixels per date, chapter 6's Findings box and the full-profile results
page: (page, what is looked for on it, JavaScript finding it)."""


def review_view_present(page: Path, content: book_checks.PageContent, what: str) -> bool:
    """Whether ``page`` holds the reviewed element (see :data:`REVIEW_VIEWS`)."""
    if not page.is_file():
        return False
    if what == "figure":
        return any(re.search(CH1_FIGURE, figure["caption"], re.I) and figure["images"] for figure in content.figures)
    if what == "Findings box":
        return any("findings" in box["classes"] or re.match(r"\s*findings\b", box["title"], re.I)
                   for box in content.admonitions)
    return True


def test_raw_math_detection():
    assert raw_math(r"the loss \(x_i\)") and raw_math(r"\[y\]") and raw_math("where $z$ is")
    assert raw_math("costs 5 $ per tile and nothing else") == []


DEFECTS = Path(__file__).resolve().parent / "data" / "book_defects"
"""Small pages as Jupyter Book renders them: one with a defect of every kind, one without, a leaderboard."""


def fixture_page(name: str, **replacements: str) -> book_checks.PageContent:
    dom = (DEFECTS / name).read_text()
    for placeholder, value in replacements.items():
        dom = dom.replace(placeholder, value)
    return book_checks.PageContent(dom)


def test_blank_plot_area_detection(tmp_path):
    """Chapter 1's masked-share bars drawn with ``width=3`` on ``datetime64[ns]`` dates: 3 ns, a zero width on
    a date axis counted in days: axes, grid and ticks, no bar. The same bars a few days wide, a grid of subplots, an image with a colour bar
    and a despined line are not blank; one empty panel of six is found."""
    import matplotlib.pyplot as plt
    import numpy as np

    dates = np.arange("2020-01-01", "2020-12-31", 10, dtype="datetime64[D]").astype("datetime64[ns]")
    share = np.random.default_rng(0).uniform(0.05, 0.6, len(dates))

    def saved(figure, name):
        figure.savefig(tmp_path / name, dpi=100)
        plt.close(figure)
        return tmp_path / name

    for width, name in ((3, "blank.png"), (np.timedelta64(3, "D"), "bars.png")):
        figure, ax = plt.subplots(figsize=(9, 2.8))
        ax.bar(dates, share, width=width, color="slategray")
        ax.set(ylabel="masked fraction", ylim=(0, 1))
        ax.grid(alpha=0.3, axis="y")
        saved(figure, name)
    figure, axes = plt.subplots(2, 3, figsize=(9, 5))
    for ax in axes.flat[:5]:
        ax.scatter(*np.random.default_rng(1).normal(size=(2, 30)))
    axes.flat[1].imshow(np.arange(16.0).reshape(4, 4))
    figure.colorbar(axes.flat[1].images[0], ax=axes.flat[1])
    axes.flat[2].plot([0, 1], [0.5, 0.5])
    axes.flat[2].spines[["top", "right"]].set_visible(False)
    axes.flat[5].grid(True)
    saved(figure, "panels.png")

    assert len(book_checks.blank_plot_areas(tmp_path / "blank.png")) == 1
    assert book_checks.blank_plot_areas(tmp_path / "bars.png") == []
    blank = book_checks.blank_plot_areas((tmp_path / "panels.png").read_bytes())
    assert len(book_checks.plot_areas(book_checks._pixels(tmp_path / "panels.png"))) >= 5
    assert len(blank) == 1 and int(blank[0].split("x=")[1].split("-")[0]) > 600, blank  # the last panel


def test_blank_plot_area_detection_in_svg(tmp_path):
    """An SVG figure is drawn by Chromium before its pixels are read: an empty axes is found, a drawn one is not."""
    import matplotlib.pyplot as plt

    chromium = chromium_binary()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    for name, values in (("empty.svg", []), ("line.svg", [0.2, 0.8, 0.5])):
        figure, ax = plt.subplots(figsize=(6, 3))
        ax.plot(values)
        ax.set(xlim=(0, 2), ylim=(0, 1))
        figure.savefig(tmp_path / name)
        plt.close(figure)
    page = tmp_path / "page.html"
    drawn = image_file(page, "empty.svg", chromium, tmp_path)
    assert isinstance(drawn, Path) and drawn.suffix == ".png"
    assert len(book_checks.blank_plot_areas(drawn)) == 1
    assert book_checks.blank_plot_areas(image_file(page, "line.svg", chromium, tmp_path)) == []


def test_table_defect_detection():
    found = book_checks.table_defects(fixture_page("defects.html").tables)
    assert found == [
        "table 1 (OA | coverage of the others), column 'OA', row 1: numbers run together '0.8330.803'",
        "table 1 (OA | coverage of the others), column 'coverage of the others', row 1: missing value 'nan'",
        "table 1 (OA | coverage of the others), column 'OA', row 2: raw floats (show 3 decimals)",
        "table 1 (OA | coverage of the others), column 'coverage of the others', row 2: missing value '<NA>'",
        "table 1 (OA | coverage of the others), column 'coverage of the others', row 3: missing value 'None'",
        "table 2 (Scores per model), column 'macro-F1', row 1: missing value 'NaN ± NaN'",
    ], found
    assert book_checks.table_defects(fixture_page("clean.html").tables) == []
    nan_column = book_checks.Table(header=["model", "area"], rows=[["a", "NaN"], ["b", "NaN"], ["c", "NaN"]])
    assert book_checks.table_defects([nan_column]) == ["table 1 (model | area), column 'area', rows 1-3: "
                                                       "missing value 'NaN'"]


def test_run_together_cell_detection():
    """Chapter 2's results table had no padding between its cells: ``0.181`` and ``0.031`` side by side read
    ``0.1810.031``. Measured in Chromium on a cramped and a padded copy of it."""
    chromium = chromium_binary()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    dom, _ = rendered(chromium, DEFECTS / "tables_layout.html")
    found = book_checks.run_together_cells(dom)
    assert any(re.fullmatch(r"table 1, columns 2-3, rows 1-2: cells \d(\.\d)? px apart or less read as one "
                            r"\('0\.1810\.031'\): pad the table's cells", line) for line in found), found
    assert all(line.startswith("table 1, ") for line in found), "the padded table reads right"
    with pytest.raises(ValueError, match="LAYOUT_SCRIPT"):
        book_checks.run_together_cells("<html><body><table></table></body></html>")


def test_overflowing_code_detection():
    """A code line wider than the column is cut off behind a scroll bar, in a folded cell too (measured unfolded,
    and left folded). Measured in Chromium on a column of 80 characters."""
    chromium = chromium_binary()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    dom, _ = rendered(chromium, DEFECTS / "code_layout.html")
    found = book_checks.overflowing_code(dom)
    assert len(found) == 2, found
    assert re.fullmatch(r"code cell 2 \(folded\) is \d+(\.\d+)? px wider than the column: its longest line has 107 "
                        r"columns \('knobs = resolve_profile\(profile, quick=dict\(epochs'\.\.\.\)", found[0])
    assert found[1].startswith("code cell 3 is ") and "has 96 columns" in found[1]
    assert "<details" in dom and " open" not in dom.split("<details")[1].split(">")[0], "the folded cell stays folded"
    with pytest.raises(ValueError, match="LAYOUT_SCRIPT"):
        book_checks.overflowing_code("<html><body><pre></pre></body></html>")


def test_raw_markup_detection():
    defects = fixture_page("defects.html")
    found = book_checks.raw_markup(defects.text("prose", "inline", "output"))
    assert [piece for piece in found if "{cite:t}" in piece and "garnot2020" in piece]
    assert [piece for piece in found if "{glue:text}" in piece] and [piece for piece in found if "```{" in piece]
    assert len(found) == 3, found
    assert book_checks.raw_markup(fixture_page("clean.html").text("prose", "inline", "output")) == []


def test_author_phrase_detection():
    found = book_checks.author_phrases(fixture_page("defects.html").text("prose", "inline", "literal", "output"))
    for phrase in ("settings this project used first", "between machines of this project",
                   "what we saw while building the chapter", "via the page excerpts the search tools return",
                   "the lead asked", "in this session", "TODO"):
        assert any(phrase in piece for piece in found), (phrase, found)
    assert not any("lead's setting" in piece for piece in found), "a code cell's comment is not prose"
    assert book_checks.author_phrases(fixture_page("clean.html").text("prose", "inline", "literal", "output")) == []


def test_build_path_detection():
    found = book_checks.build_paths(fixture_page("defects.html").text(hidden=False))
    assert found == ["../shared/data/igarss2019_victoria_s2", "_build/runs/01", "_build/runs/01_sits_data/record.json",
                     "/tmp/cache/x.npy"], found
    clean = fixture_page("clean.html")
    assert book_checks.build_paths(clean.text(hidden=False)) == []
    assert book_checks.build_paths(clean.text()) == ["_build/runs/01_sits_data"], "only a hidden cell shows it"


def test_leaderboard_reproduce_line_detection():
    """A leaderboard with a synthetic and a real-data section, as ``sitsbench.results.leaderboard`` writes it;
    the defects are put in through its placeholders."""
    victoria = ' <span class="pre">-p</span> <span class="pre">dataset</span> <span class="pre">igarss2019_victoria_s2</span>'
    right = {"SEEDS_A": "seeds 0, 1", "SEEDS_B": "seed 0", "VICTORIA": victoria, "PROFILE": "quick"}
    defaults = {"06_downstream": {"dataset": "default"}}
    assert book_checks.leaderboard_defects(fixture_page("leaderboard.html", **right), defaults) == []

    wrong = fixture_page("leaderboard.html", **{**right, "SEEDS_A": "0, 1", "SEEDS_B": "0", "VICTORIA": ""})
    seeds = "does not read as a list of seeds (write 'seed 0' or 'seeds 0, 1, 2')"
    assert book_checks.leaderboard_defects(wrong, defaults) == [
        f"section '06_downstream on synthetic/default', row 1: seeds cell '0, 1' {seeds}",
        f"section '06_downstream on synthetic/default', row 2: seeds cell '0' {seeds}",
        f"section '06_downstream on victoria-s2', row 1: seeds cell '0' {seeds}",
        "section '06_downstream on victoria-s2', row 1: R1 runs dataset 'default', not 'victoria-s2': "
        "`papermill notebooks/06_downstream.ipynb out.ipynb -p profile quick -p seed 0`"]

    full = book_checks.leaderboard_defects(fixture_page("leaderboard.html", **{**right, "PROFILE": "full"}), defaults)
    assert [defect.split(": `")[0] for defect in full] == [
        "section '06_downstream on synthetic/default', rows 1-2: R1 does not pass [('profile', 'full')], "
        "it has [('profile', 'quick')]",
        "section '06_downstream on synthetic/default', row 1: R2 does not pass [('profile', 'full')], "
        "it has [('profile', 'quick')]"]
    hard = book_checks.leaderboard_defects(fixture_page("leaderboard.html", **right),
                                           {"06_downstream": {"dataset": "hard"}})
    assert hard[0].startswith("section '06_downstream on synthetic/default', rows 1-2: R1 runs dataset 'hard'")
    read_too = {"06_downstream": {"dataset": "default", "real_data": "../shared/data/igarss2019_victoria_s2"}}
    assert book_checks.leaderboard_defects(fixture_page("leaderboard.html", **{**right, "VICTORIA": ""}),
                                           read_too) == [], "a run that also reads the real data by default"


def test_review_views_are_found():
    """The Findings box (by class or title) and chapter 1's masked-share figure that the browser test screenshots."""
    clean, defects = fixture_page("clean.html"), fixture_page("defects.html")
    page = DEFECTS / "clean.html"
    assert review_view_present(page, clean, "Findings box") and review_view_present(page, clean, "figure")
    titled = fixture_page("clean.html", **{'class="admonition findings"': 'class="admonition note"'})
    assert review_view_present(page, titled, "Findings box"), "found by its title"
    assert not review_view_present(page, defects, "Findings box") and not review_view_present(page, defects, "figure")
    assert not review_view_present(DEFECTS / "full_results.html", clean, "page")


@pytest.mark.slow
def test_chapter_one_runs_in_quick_mode_and_writes_its_record(chapter_one_book):
    """Chapter 1 as the book executes it: the session's one execution (``chapter_one_book``), which the browser test
    below renders. Here, beside that test, so that pytest-xdist tends to run both on one worker: the second to ask
    for the build waits for the first."""
    record = json.loads((chapter_one_book / "runs" / "01_sits_data" / "record.json").read_text())
    metrics = record["metrics"]
    assert record["parameters"]["profile"] == "quick"
    assert metrics["majority_class_accuracy"] + 0.3 < metrics["rf_overall_accuracy"] < 0.95


@pytest.mark.slow
def test_the_book_reads_right_in_a_browser(request, tmp_path):
    """Every page of the book, as Chromium renders it; every defect found is listed at the end, page by page."""
    chromium = chromium_binary()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    html = built_book(request)
    chapters = sorted((html / "notebooks").glob("*.html"))
    assert chapters, f"no chapter page in {html / 'notebooks'}"
    executed = [page for page in chapters if 'class="cell_output' in page.read_text()]  # --only builds leave others bare
    assert executed, "no executed chapter in the book"
    references = html / "references.html"
    assert references.is_file(), "no references page"
    reference_ids = set(re.findall(r'id="([^"]+)"', references.read_text()))
    pages = [*chapters, *(page for page in sorted(html.glob("*.html"))  # not the index, a redirect to the intro
                          if page.name not in ("genindex.html", "search.html") and not page.name.startswith(".")
                          and 'http-equiv="refresh"' not in page.read_text().lower())]
    data_parameters = notebook_data_parameters()
    defects: dict[str, list[str]] = {}
    contents: dict[Path, book_checks.PageContent] = {}
    formulas = 0
    for page in pages:
        dom, seen = rendered(chromium, page)
        content = contents[page] = book_checks.PageContent(dom)
        found = defects.setdefault(str(page.relative_to(html)), [])
        text = " ".join(seen.text)
        formulas += seen.formulas
        found += [f"formula left as raw TeX: {piece!r}" for piece in raw_math(text)[:5]]
        code = re.sub(r"<[^>]+>", "", re.sub(r"<(style|script)\b.*?</\1>", "", dom, flags=re.S))
        machine = re.findall(r"""(?:output_dir|dataset) = ["'](/[^"']*)""", code) + [str(REPO)] * (str(REPO) in code)
        found += [f"path of the build machine: {path!r}" for path in machine]
        for href in seen.citations:
            target = urlparse(href)
            linked = (page.parent / unquote(target.path)).resolve() if target.path else page.resolve()
            if linked != references.resolve() or target.fragment not in reference_ids:
                found.append(f"citation link {href!r} does not reach an entry of the references page")
        found += book_checks.table_defects(content.tables)
        found += book_checks.run_together_cells(dom, content.tables)
        found += book_checks.overflowing_code(dom)
        found += [f"raw MyST markup: {piece!r}" for piece in
                  book_checks.raw_markup(content.text("prose", "inline", "output"))]
        found += [f"author-facing phrase: {piece!r}" for piece in
                  book_checks.author_phrases(content.text("prose", "inline", "literal", "output"))]
        found += [f"build path: {path!r}" for path in book_checks.build_paths(content.text(hidden=False))]
        if page.name == "leaderboard.html":
            found += book_checks.leaderboard_defects(content, data_parameters)
        for number, image in enumerate(seen.images, start=1):
            source = image_file(page, image["src"], chromium, tmp_path) if image_exists(page, image["src"]) else None
            if source is not None:
                found += [f"image {number} ({image['alt'][:50] or image['src'][-40:]}): {blank}"
                          for blank in book_checks.blank_plot_areas(source)]
        if page not in executed:
            continue
        found += [f"Python warning printed: {warning!r}"
                  for warning in sorted(set(re.findall(r"\b\w+Warning: [^\n<]{0,80}", code)))]
        notebook = json.loads((REPO / "notebooks" / f"{page.stem}.ipynb").read_text())
        roles = sum(len(GLUE_ROLE.findall("".join(cell["source"]))) for cell in notebook["cells"]
                    if cell["cell_type"] == "markdown")
        if seen.pasted != roles:
            found.append(f"{roles} glued values in the prose, {seen.pasted} pasted")
        figures = [image for image in seen.images if "_images/" in image["src"]
                   or image["src"].startswith("data:image/")]
        if not figures:
            found.append("no figure in the rendered page")
        found += [f"image that does not load: {image['src'] or '(empty src)'}" for image in seen.images
                  if not image_exists(page, image["src"])]
        for image in figures:
            if not image["alt"].strip() or image["alt"].startswith("_images"):
                found.append(f"figure without alt text ({image['src'][:60]})")
            if image["figure"] is None:
                found.append(f"image outside a captioned figure ({image['alt'][:50]})")
        found += [f"unnumbered figure caption {caption.strip()[:60]!r}" for caption in seen.figcaptions
                  if not re.match(r"Figure \d+", caption.strip())]
    assert formulas > 0, "no typeset formula in the whole book"

    _, index = rendered(chromium, references)
    assert len(reference_ids) > 20 and "doi" in " ".join(index.text).lower()

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for part, page in (("chapters", chapters[0]), ("benchmark", html / "leaderboard.html"),
                       ("reference", references)):
        screenshot(chromium, page, ARTEFACTS / f"{part}.png")
    for name, (relative, what, find) in REVIEW_VIEWS.items():
        page = html / relative
        assert review_view_present(page, contents.get(page, book_checks.PageContent()), what), (
            f"the book has no {what} for the view {name!r} ({relative})")
        screenshot(chromium, page, ARTEFACTS / f"{name}.png", find)
    report = "\n".join(f"{page}:\n" + "\n".join(f"  - {defect}" for defect in found)
                       for page, found in defects.items() if found)
    (ARTEFACTS / "defects.txt").write_text(report + "\n" if report else "no defect found\n")
    assert not report, f"defects on the rendered pages (also in {ARTEFACTS / 'defects.txt'}):\n{report}"
