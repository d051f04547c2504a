"""Detectors of the defects a reviewer finds on a rendered page of the book (issue 41), as plain functions.

Each takes what a reader sees, the DOM Chromium rendered (parsed by :class:`PageContent`) or a figure's image, and
returns the defects it finds as short strings naming what is wrong and where, so that the browser test
(``tests/test_book_browser.py``) reports every defect of every page at once. Each detector has a unit test on a small
page or image that has the defect and one that does not (``tests/test_book_browser.py``, fixtures under
``tests/data/book_defects/``).
"""

from __future__ import annotations

import html
import io
import json
import re
import shlex
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image

# --- figures -----------------------------------------------------------------------------------------------------

INK = 32
"""A pixel differs from a background when one of its channels differs by more than this (of 255): matplotlib's
default grid at ``alpha=0.3`` stays below it, every data colour of a default colour cycle is above it."""
FRAME_MIN = 40
"""Shortest spine (px) taken for an axes frame; plotting areas smaller than this are not checked."""
FRAME_THICK = 6
"""A spine is a line at most this thick (px): the side of a filled bar or image is not one."""
TICK = 15
"""Longest tick mark (px): a tick at the corner of an axes lengthens its spines outward by this much."""
MARGIN = 6
"""Pixels left out along each side of a plotting area (the spine's antialiasing, inward tick marks)."""


def _pixels(image: Path | bytes) -> np.ndarray:
    """The image as an ``H x W x 3`` int array, composited on white (a transparent figure shows the page's white)."""
    source = io.BytesIO(image) if isinstance(image, bytes) else image
    with Image.open(source) as opened:
        rgba = np.asarray(opened.convert("RGBA")).astype(np.int32)
    alpha = rgba[..., 3:]
    return (rgba[..., :3] * alpha + 255 * (255 - alpha) + 127) // 255


def _mode(pixels: np.ndarray) -> np.ndarray:
    """The most frequent colour of ``pixels`` (``... x 3``)."""
    packed = (pixels[..., 0] << 16 | pixels[..., 1] << 8 | pixels[..., 2]).ravel()
    colours, counts = np.unique(packed, return_counts=True)
    colour = int(colours[counts.argmax()])
    return np.array([colour >> 16, colour >> 8 & 255, colour & 255])


def _runs(mask: np.ndarray, shortest: int) -> list[tuple[int, int, int]]:
    """``(line, start, stop)`` of each run of True along the rows of ``mask`` at least ``shortest`` long."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    lines, edges = np.nonzero(np.diff(padded, axis=1))
    lines, starts, stops = lines[::2], edges[::2], edges[1::2]
    long = stops - starts >= shortest
    return [(int(a), int(b), int(c)) for a, b, c in zip(lines[long], starts[long], stops[long])]


def _spine(mask: np.ndarray, line: int, start: int, stop: int, inward: int) -> bool:
    """Whether the run ``mask[line, start:stop]`` is a spine, a thin line with the plotting area on side
    ``inward`` (+1 or -1): a few lines inside, most of its length is not ink (the side of a filled bar or of an
    image is not a spine)."""
    inside = line + inward * FRAME_THICK
    return 0 <= inside < len(mask) and mask[inside, start:stop].mean() < 0.5


def plot_areas(pixels: np.ndarray) -> list[tuple[int, int, int, int]]:
    """The plotting areas ``(top, left, bottom, right)`` of the figure: where a left spine and a bottom spine meet
    at a corner (a full box or the L of a despined axes); the area spans the two spines' lengths."""
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    ink = np.abs(pixels - _mode(border)).max(axis=2) > INK
    bottoms = [run for run in _runs(ink, FRAME_MIN) if _spine(ink, *run, inward=-1)]
    lefts = [run for run in _runs(ink.T, FRAME_MIN) if _spine(ink.T, *run, inward=+1)]
    areas = set()
    if lefts and bottoms:
        rows = np.array(bottoms)
        for x, top, bottom in lefts:
            meet = (x - rows[:, 1] >= 0) & (x - rows[:, 1] <= TICK) & (bottom - 1 - rows[:, 0] >= 0) & (
                bottom - 1 - rows[:, 0] <= TICK)
            areas.update((top, x, int(y), int(right)) for y, _, right in rows[meet])
    # one area per corner: the spines' antialiased neighbour lines give near-duplicates; keep the outermost
    kept: list[tuple[int, int, int, int]] = []
    for area in sorted(areas, key=lambda a: (a[2] - a[0]) * (a[3] - a[1]), reverse=True):
        if not any(abs(area[1] - k[1]) <= FRAME_THICK and abs(area[2] - k[2]) <= FRAME_THICK for k in kept):
            kept.append(area)
    return kept


def _grid_lines(ink: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """Rows of ``ink`` that are grid lines: grey (or white) ink across most of the area, in a band at most 4 rows
    thick (a coloured line across the area is data: a constant series)."""
    across = ink.mean(axis=1) > 0.4
    greyish = (ink & grey).sum(axis=1) >= 0.9 * ink.sum(axis=1)
    full = across & greyish
    grid = np.zeros_like(full)
    start = None
    for row, value in enumerate([*full, False]):
        if value and start is None:
            start = row
        elif not value and start is not None:
            if row - start <= 4:
                grid[start:row] = True
            start = None
    return grid


def blank_plot_areas(image: Path | bytes) -> list[str]:
    """The plotting areas of a figure inside which nothing is drawn: once grid lines are set aside, the inside is
    of one colour (an axes face with no bar, line, marker, image or text in it)."""
    pixels = _pixels(image)
    blank = []
    for top, left, bottom, right in plot_areas(pixels):
        inside = pixels[top + MARGIN:bottom - MARGIN, left + MARGIN:right - MARGIN]
        if inside.shape[0] < FRAME_MIN - 2 * MARGIN or inside.shape[1] < FRAME_MIN - 2 * MARGIN:
            continue
        ink = np.abs(inside - _mode(inside)).max(axis=2) > INK
        grey = inside.max(axis=2) - inside.min(axis=2) <= 16
        ink[_grid_lines(ink, grey)] = False
        ink[:, _grid_lines(ink.T, grey.T)] = False
        if ink.sum() <= max(20, 2e-4 * ink.size):
            blank.append(f"plotting area at x={left}-{right}, y={top}-{bottom} px has nothing drawn in it")
    return blank


# --- the rendered DOM ----------------------------------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
UNSEEN = {"head", "script", "style", "nav", "noscript", "template", "textarea", "svg", "mjx-container"}
"""Elements whose text a reader does not read as text (navigation repeats the page titles; typeset math and inline
SVG are drawings)."""
BLOCKS = {"p", "div", "li", "td", "th", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "br", "section",
          "figure", "figcaption", "dt", "dd", "caption", "summary", "details", "blockquote", "ul", "ol", "dl"}


@dataclass
class Table:
    """A rendered table: its caption, its header (of the header rows, the one naming most columns), its body rows,
    and whether a code cell printed it (a pandas DataFrame) or the page's text holds it."""

    caption: str = ""
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    in_output: bool = False

    def name(self, index: int) -> str:
        title = self.caption.strip() or " | ".join(cell for cell in self.header if cell)[:60]
        return f"table {index + 1}" + (f" ({title})" if title else "")


@dataclass
class _Element:
    tag: str
    region: str
    hidden: bool
    unseen: bool


class PageContent(HTMLParser):
    """What a reader sees of a rendered page, by region: ``prose`` (the page's text), ``inline`` (inline code in
    it), ``literal`` (code blocks of the text), ``input`` and ``output`` (a notebook cell's source and what it
    printed or displayed); text inside a closed ``<details>`` (a hidden cell input, a dropdown) is marked hidden.
    Also its tables, admonitions (classes and title), figures and, in order, its headings, tables, paragraphs and
    list items (``blocks``: ``(tag, text or Table)``; a paragraph inside a list item is part of the item)."""

    def __init__(self, dom: str = ""):
        super().__init__(convert_charrefs=True)
        self.chunks: list[tuple[str, bool, str]] = []
        self.tables: list[Table] = []
        self.admonitions: list[dict] = []
        self.figures: list[dict] = []
        self.blocks: list[tuple[str, object]] = []
        self._stack: list[_Element] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False
        self._caption: str | None = None
        self._heading: list[str] | None = None
        self._item: list[str] | None = None
        self._item_tag = ""
        self._admonition_title: list[str] | None = None
        if dom:
            self.feed(dom)
            self.close()

    def text(self, *regions: str, hidden: bool = True) -> str:
        """The text of ``regions`` (all when none is named), in page order, blank space collapsed; without the
        hidden text when ``hidden`` is false."""
        chosen = [text for region, is_hidden, text in self.chunks
                  if (not regions or region in regions) and (hidden or not is_hidden)]
        return re.sub(r"[ \t]*\n[\s]*", "\n", re.sub(r"[ \t\r\f\v]+", " ", "".join(chosen))).strip()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        classes = (attrs.get("class") or "").split()
        parent = self._stack[-1] if self._stack else _Element("", "prose", False, False)
        region = parent.region
        if "cell_input" in classes:
            region = "input"
        elif "cell_output" in classes:
            region = "output"
        elif tag == "pre" and region == "prose":
            region = "literal"
        elif tag == "code" and region == "prose":
            region = "inline"
        element = _Element(tag, region, parent.hidden or (tag == "details" and "open" not in attrs),
                           parent.unseen or tag in UNSEEN or "headerlink" in classes)
        if tag in BLOCKS:
            self._write("\n")
        if tag == "summary":  # the toggle of a details element is seen even when it is closed
            element.hidden = parent.hidden
        if tag == "table":
            self.tables.append(Table(in_output=region == "output"))
            self.blocks.append(("table", self.tables[-1]))
        elif tag == "thead" and self.tables:
            self._in_head = True
        elif tag == "tr" and self.tables:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "caption" and self.tables:
            self._caption = ""
        elif re.fullmatch(r"h[1-6]", tag):
            self._heading = []
        if "admonition" in classes:
            self.admonitions.append({"classes": classes, "title": "", "id": attrs.get("id") or ""})
        elif "admonition-title" in classes and self.admonitions:
            self._admonition_title = []
        elif tag in ("li", "p") and self._item is None:
            self._item = []
            self._item_tag = tag
        if tag == "figure":
            self.figures.append({"id": attrs.get("id") or "", "caption": "", "images": []})
        if tag == "img":
            image = {"src": attrs.get("src") or "", "alt": attrs.get("alt") or ""}
            if self.figures and any(e.tag == "figure" for e in self._stack):
                self.figures[-1]["images"].append(image)
        if tag not in VOID:
            self._stack.append(element)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        while self._stack:
            if self._stack.pop().tag == tag:
                break
        if tag in BLOCKS:
            self._write("\n")
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            if self._in_head:  # pandas adds a row naming the index: keep the row that names most columns
                if sum(map(bool, self._row)) > sum(map(bool, self.tables[-1].header)):
                    self.tables[-1].header = self._row
            else:
                self.tables[-1].rows.append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "caption" and self._caption is not None and self.tables:
            self.tables[-1].caption = re.sub(r"\s+", " ", self._caption).strip()
            self._caption = None
        elif re.fullmatch(r"h[1-6]", tag) and self._heading is not None:
            self.blocks.append((tag, re.sub(r"\s+", " ", "".join(self._heading)).strip()))
            self._heading = None
        elif tag == self._item_tag and self._item is not None:
            self.blocks.append((tag, re.sub(r"\s+", " ", "".join(self._item)).strip()))
            self._item = None
        if tag == "p" and self._admonition_title is not None:
            self.admonitions[-1]["title"] = "".join(self._admonition_title).strip()
            self._admonition_title = None

    def handle_data(self, data):
        element = self._stack[-1] if self._stack else _Element("", "prose", False, False)
        if element.unseen:
            return
        self.chunks.append((element.region, element.hidden, data))
        for collector in (self._cell, self._heading, self._item, self._admonition_title):
            if collector is not None:
                collector.append(data)
        if self._caption is not None:
            self._caption += data
        if any(e.tag == "figcaption" for e in self._stack) and self.figures:
            self.figures[-1]["caption"] += data

    def _write(self, text: str) -> None:
        element = self._stack[-1] if self._stack else _Element("", "prose", False, False)
        if not element.unseen:
            self.chunks.append((element.region, element.hidden, text))


# --- tables --------------------------------------------------------------------------------------------------------

MISSING_VALUES = {"nan", "NaN", "<NA>", "None", "NaT", "nan%", "inf", "-inf"}
"""A table cell that reads as one of these shows a value that was never computed."""
MISSING_WORD = re.compile(r"(?<![\w<])(?:nan|NaN|<NA>|NaT)(?![\w>])")
RUN_TOGETHER = re.compile(r"\d\.\d{3,}\.\d|\d%\d")
"""Two numbers printed without a separator: ``0.8330.803``, ``83%80%`` (but not a version such as ``3.11.2``)."""
RAW_FLOAT = re.compile(r"(?<![\w.])-?\d+\.\d{4,}(?![\w.])")
"""A number shown with more than 3 decimals (``0.926829``): a float printed as Python holds it."""


def _numbers(values: list[int]) -> str:
    """``1-3, 7`` for ``[1, 2, 3, 7]``."""
    spans: list[list[int]] = []
    for value in sorted(set(values)):
        if spans and value == spans[-1][1] + 1:
            spans[-1][1] = value
        else:
            spans.append([value, value])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)


def _by_rows(found: list[tuple[str, int, str]]) -> list[str]:
    """``(where, row, what)`` findings as one line per ``where`` and ``what``: ``where, rows 1-10: what``."""
    rows: dict[tuple[str, str], list[int]] = {}
    for where, row, what in found:
        rows.setdefault((where, what), []).append(row)
    return [f"{where}, row{'s' if len(numbers) > 1 else ''} {_numbers(numbers)}: {what}"
            for (where, what), numbers in rows.items()]


def table_defects(tables: list[Table]) -> list[str]:
    """The cells of ``tables`` that show a missing value (``nan``, ``<NA>``, ``None``), two numbers run together
    or a float with more than 3 decimals, by table, column and kind (with the rows where it shows)."""
    found = []
    for index, table in enumerate(tables):
        for number, row in enumerate(table.rows, start=1):
            for column, cell in enumerate(row):
                title = table.header[column] if column < len(table.header) and table.header[column] else \
                    f"{column + 1}"
                where = f"{table.name(index)}, column {title!r}"
                if cell in MISSING_VALUES or MISSING_WORD.search(cell):
                    found.append((where, number, f"missing value {cell!r}"))
                elif RUN_TOGETHER.search(cell):
                    found.append((where, number, f"numbers run together {cell!r}"))
                elif RAW_FLOAT.search(cell):
                    found.append((where, number, "raw floats (show 3 decimals)"))
    return _by_rows(found)


CELL_GAP = 6
"""Two table cells side by side whose texts are fewer pixels apart than this read as one (``0.1810.031``): a
space is about 4 px wide at the book's font size, a table the theme styles pads its cells by 8 px or more."""
LAYOUT_SCRIPT = f"""<script>
const CELL_GAP = {CELL_GAP};
addEventListener('load', () => setTimeout(() => {{
  const extent = (cell) => {{
    const range = document.createRange();
    range.selectNodeContents(cell);
    const boxes = [...range.getClientRects()].filter((box) => box.width > 0 && box.height > 0);
    if (!boxes.length) return null;
    return {{left: Math.min(...boxes.map((b) => b.left)), right: Math.max(...boxes.map((b) => b.right)),
            top: Math.min(...boxes.map((b) => b.top)), bottom: Math.max(...boxes.map((b) => b.bottom))}};
  }};
  const close = [];
  [...document.querySelectorAll('table')].forEach((table, t) => [...table.rows].forEach((row, r) => {{
    const cells = [...row.cells];
    for (let c = 0; c + 1 < cells.length; c++) {{
      const a = extent(cells[c]), b = extent(cells[c + 1]);
      if (a && b && Math.min(a.bottom, b.bottom) > Math.max(a.top, b.top) && b.left - a.right < CELL_GAP)
        close.push([t, r, c, cells[c].textContent.trim(), cells[c + 1].textContent.trim(),
                    Math.round((b.left - a.right) * 10) / 10]);
    }}
  }}));
  const wide = [];
  [...document.querySelectorAll('div.cell_input pre')].forEach((pre, n) => {{
    const folded = [];  // a folded cell (hide-input) is unfolded to be measured, then folded again
    for (let d = pre.closest('details'); d; d = d.parentElement.closest('details'))
      if (!d.open) {{ d.open = true; folded.push(d); }}
    const over = pre.scrollWidth - pre.clientWidth;
    if (over > 1) {{
      const lines = pre.textContent.split('\\n');
      const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
      wide.push([n, longest, over, folded.length > 0]);
    }}
    folded.forEach((d) => {{ d.open = false; }});
  }});
  for (const [id, found] of [['book-check-layout', close], ['book-check-code', wide]]) {{
    const out = document.createElement('script');
    out.type = 'application/json';
    out.id = id;
    out.textContent = JSON.stringify(found);
    document.body.appendChild(out);
  }}
}}, 500));
</script>"""
"""Injected into a page before Chromium opens it: once the page is laid out, it writes into the DOM (JSON script
elements) the neighbouring table cells whose texts lie closer than :data:`CELL_GAP` on a line
(``#book-check-layout``: ``[table, row, column, text, next text, gap px]``, tables and rows counted from 0 in page
order, header rows included) and the code cells wider than the column (``#book-check-code``: ``[cell, longest
line, px beyond the column, folded]``, cells counted from 0, folded ones unfolded to be measured)."""


def run_together_cells(dom: str, tables: list[Table] | None = None) -> list[str]:
    """The neighbouring table cells that :data:`LAYOUT_SCRIPT` measured too close to read apart, by table and
    pair of columns, from the DOM of a page it was injected into (an error when it did not run); the tables are
    named by their caption or header when the page's ``tables`` (:class:`PageContent`) are given."""
    payload = re.search(r'<script[^>]*id="book-check-layout"[^>]*>(.*?)</script>', dom, re.S)
    if payload is None:
        raise ValueError("the page was rendered without book_checks.LAYOUT_SCRIPT")
    pairs: dict[tuple[int, int], list] = {}
    for t, r, c, a, b, gap in json.loads(html.unescape(payload.group(1))):
        pairs.setdefault((t, c), []).append((r, a, b, gap))
    def name(t: int) -> str:
        return tables[t].name(t) if tables and t < len(tables) else f"table {t + 1}"

    return [f"{name(t)}, columns {c + 1}-{c + 2}, row{'s' if len(rows) > 1 else ''} "
            f"{_numbers([r for r, *_ in rows])}: cells {max(gap for *_, gap in rows):g} px apart or less read "
            f"as one ({rows[0][1] + rows[0][2]!r}): pad the table's cells" for (t, c), rows in pairs.items()]


def overflowing_code(dom: str) -> list[str]:
    """The code cells whose lines :data:`LAYOUT_SCRIPT` measured wider than the column (their ends cut off behind a
    scroll bar), folded cells included, from the DOM of a page it was injected into (an error when it did not
    run)."""
    payload = re.search(r'<script[^>]*id="book-check-code"[^>]*>(.*?)</script>', dom, re.S)
    if payload is None:
        raise ValueError("the page was rendered without book_checks.LAYOUT_SCRIPT")
    return [f"code cell {cell + 1}{' (folded)' if folded else ''} is {over:g} px wider than the column: its "
            f"longest line has {len(line)} columns ({line.strip()[:50]!r}...)"
            for cell, line, over, folded in json.loads(html.unescape(payload.group(1)))]


# --- the text --------------------------------------------------------------------------------------------------

RAW_MARKUP = re.compile(
    r"\{(?:[a-z][a-z-]*:[a-z][a-z:-]*|cite|numref|ref|doc|eq|math|term|download|abbr|glue|sub-ref|figure|"
    r"code-cell|note|warning|tip|important|admonition|dropdown|bibliography|tableofcontents|list-table|table|"
    r"image|margin|seealso|attention|caution|danger|error|hint|epigraph|math)\}`?"
    r"|```\{|:::\{|\]\(#|\{\{ *\w+ *\}\}")
"""MyST markup that was not rendered: a role (``{cite:t}`key```, ``{glue:text}``), a directive fence (````{note}``),
a substitution (``{{ name }}``) or a link to an unresolved label (``](#label)``)."""


def raw_markup(text: str) -> list[str]:
    """Pieces of MyST markup left in rendered text, with a little of their context."""
    return [text[max(0, m.start() - 20):m.end() + 20].replace("\n", " ") for m in RAW_MARKUP.finditer(text)]


AUTHOR_PHRASES = (
    # quoted by the reviewer (issue 41)
    "settings this project used first",
    "between machines of this project",
    "what we saw while building the chapter",
    "via the page excerpts the search tools return",
    # how an author speaks to collaborators, not to readers
    r"this session",
    r"the search tools?",
    r"the lead\b(?! time| author)",
    r"the brief",
    r"the reviewer",
    r"issue #?\d+",
    r"page excerpts",
    r"machines? of this project",
    r"this project used",
    r"while building the chapter",
    r"(?:a|the) helper (?:session|agent)",
    r"device machine",
    r"the sandbox",
)
"""Phrases written for the book's authors (notes of how it was made) rather than for its readers: regular
expressions, matched case-insensitively."""
NOTE_MARKERS = re.compile(r"\b(?:TODO|FIXME|XXX)\b")
"""An author's note to self, matched in capitals only."""


def author_phrases(text: str) -> list[str]:
    """The author-facing phrases of :data:`AUTHOR_PHRASES` in ``text``, with a little of their context."""
    matches = sorted([*(m.span() for phrase in AUTHOR_PHRASES for m in re.finditer(phrase, text, re.IGNORECASE)),
                      *(m.span() for m in NOTE_MARKERS.finditer(text))])
    spans: list[list[int]] = []
    for start, end in matches:  # overlapping phrases (a quoted one and a general pattern) are one finding
        if spans and start < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        else:
            spans.append([start, end])
    return [text[max(0, start - 30):end + 30].replace("\n", " ") for start, end in spans]


BUILD_PATH = re.compile(r"(?:\.\./)+shared/\S*|\bshared/data\b\S*|(?<![\w.])_build/(?!html\b)\S*"
                        r"|(?<![\w.])/(?:work|tmp|home|root|private|Users|var/folders)/\S*")
"""A path of the machine or the build tree the book was built on: readers have neither (``_build/html``, where
``make book`` writes the book, is an instruction to a reader who builds it)."""


def build_paths(text: str) -> list[str]:
    """The build-machine and build-tree paths in ``text`` (each once, in order)."""
    return list(dict.fromkeys(m.group().rstrip(".,;:)'\"`") for m in BUILD_PATH.finditer(text)))


# --- the leaderboard -----------------------------------------------------------------------------------------------

SEEDS_CELL = re.compile(r"seeds? (\d+(?:, \d+)*)")
"""How a leaderboard row lists the seeds of its runs: ``seed 0``, ``seeds 0, 1, 2`` (a bare ``0`` reads as a count
of zero seeds)."""


def _settings(text: str) -> dict[str, str]:
    """``{"profile": "quick", ...}`` of ``"profile=quick, seg_methods=[]"``."""
    return {key: value for key, value in re.findall(r"(\w+)=(.*?)(?=, \w+=|$)", text.strip())}


def _papermill_parameters(command: str) -> dict[str, str] | None:
    """The ``-p NAME VALUE`` parameters of a papermill command (None for another kind of command)."""
    words = shlex.split(command)
    if not words or words[0] != "papermill":
        return None
    return {words[i + 1]: words[i + 2] for i, word in enumerate(words[:-2]) if word in ("-p", "--parameters")}


def _names_dataset(value: str, dataset: str) -> bool:
    """Whether the ``dataset`` parameter ``value`` is the leaderboard's dataset label ``dataset``
    (``synthetic/hard`` is the preset ``hard``; ``victoria-s2`` is named by ``igarss2019_victoria_s2``)."""
    if dataset.startswith("synthetic/"):
        return value == dataset.split("/", 1)[1]
    words = [word for word in re.split(r"[^a-z0-9]+", dataset.lower()) if word]
    return bool(words) and all(word in value.lower() for word in words)


def leaderboard_defects(page: PageContent, data_parameters: dict[str, dict[str, str]]) -> list[str]:
    """The rows of the leaderboard whose reproduce commands do not re-run them, and seeds cells that do not read
    as seeds, by section and command (with the rows concerned).

    Each section (``## <notebook> on <dataset>``) has a table whose ``reproduce`` cell names commands (``R1``...)
    listed below it. Every papermill command of a row must read the row's dataset through one of the notebook's
    data parameters (``data_parameters[notebook]``: their defaults, e.g. ``{"dataset": "default", "real_data":
    "../shared/data/sits_sinop_modis"}``; a ``-p`` of the command replaces one) and pass the launch parameters
    that the section shares and the row's setting; its ``seeds`` cell reads ``seed 0`` or ``seeds 0, 1, 2``.
    (Which seeds a command runs is not checked: a chapter may run several seeds in one execution.)
    """
    found: list[tuple[str, int, str]] = []
    section, shared, table, commands = None, {}, None, {}

    def check() -> None:
        if section is None or table is None:
            return
        notebook, _, dataset = section.partition(" on ")
        header = [cell.lower() for cell in table.header]
        where = f"section {section!r}"
        for number, row in enumerate(table.rows, start=1):
            cells = dict(zip(header, row))
            seeds = cells.get("seeds", "")
            if not SEEDS_CELL.fullmatch(seeds) or seeds.startswith("seeds ") != ("," in seeds):
                found.append((where, number, f"seeds cell {seeds!r} does not read as a list of seeds "
                              "(write 'seed 0' or 'seeds 0, 1, 2')"))
            keys = re.findall(r"R\d+", cells.get("reproduce", ""))
            if not keys:
                found.append((where, number, "no reproduce command"))
            expected = {**shared, **_settings(cells.get("setting", ""))}
            expected.pop("seed", None)
            for key in keys:
                command = commands.get(key)
                if command is None:
                    found.append((where, number, f"reproduce key {key} is not listed under the table"))
                    continue
                parameters = _papermill_parameters(command)
                if parameters is None:
                    continue
                defaults = data_parameters.get(notebook, {"dataset": "default"})
                read = {name: parameters.get(name, value) for name, value in defaults.items()}
                if not any(_names_dataset(value, dataset) for value in read.values()):
                    found.append((where, number, f"{key} runs dataset {read.get('dataset')!r}, not {dataset!r}: "
                                  f"`{command}`"))
                wrong = {k: parameters.get(k) for k, v in expected.items() if parameters.get(k) != v}
                if wrong:
                    found.append((where, number, f"{key} does not pass {sorted(expected.items())}, it has "
                                  f"{sorted(wrong.items())}: `{command}`"))

    for kind, content in page.blocks:
        if kind == "h2":
            check()
            section, shared, table, commands = str(content).strip(), {}, None, {}
        elif kind == "p" and section and str(content).startswith("Launch parameters shared"):
            shared = _settings(str(content).split(":", 1)[1])
        elif kind == "table" and section:
            table = content
        elif kind == "li" and section and re.match(r"R\d+:", str(content)):
            key, command = str(content).split(":", 1)
            commands[key] = command.strip().strip("`")
    check()
    return _by_rows(found)
