"""The built HTML book opened in headless Chromium, offline, as a reader sees it.

Checked on every page: each formula is typeset by the book's own MathJax (no raw ``\\(``, ``\\[`` or ``$`` left in
the rendered text), every citation links to an entry of the references page, every glued value of a chapter is
pasted, every chapter figure loads, is numbered, captioned and has alt text, no chapter prints a Python warning and
no page shows a path of the build machine. A screenshot of one page per part of the book is kept in ``_build/browser/`` (``chapters.png``,
``benchmark.png``, ``reference.png``).

Uses Debian's ``chromium`` binary (``.ci/run`` installs it); skipped, with the reason, when it is absent.
The book is taken from ``$SITSBENCH_BOOK_HTML`` when set, reused from ``_build/html`` when ``make book`` built it
after the last change to a notebook, else chapter 1 is built (quick profile) into ``_build/browser/book``.
"""

import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

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
    """The DOM of ``page`` after Chromium loaded it (scripts run, MathJax typeset) and its parse."""
    result = subprocess.run([chromium, *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()], capture_output=True,
                            text=True, timeout=180)
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


def test_raw_math_detection():
    assert raw_math(r"the loss \(x_i\)") and raw_math(r"\[y\]") and raw_math("where $z$ is")
    assert raw_math("costs 5 $ per tile and nothing else") == []


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
def test_the_book_reads_right_in_a_browser(request):
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
    pages = [*chapters, *(html / name for name in ("intro.html", "leaderboard.html", "real_data.html",
                                                  "datasets.html", "execution.html", "references.html"))]
    formulas = 0
    for page in pages:
        dom, seen = rendered(chromium, page)
        text = " ".join(seen.text)
        formulas += seen.formulas
        assert not raw_math(text), f"{page.name}: formulas left as raw TeX: {raw_math(text)[:5]}"
        code = re.sub(r"<[^>]+>", "", re.sub(r"<(style|script)\b.*?</\1>", "", dom, flags=re.S))
        machine = re.findall(r"""(?:output_dir|dataset) = ["'](/[^"']*)""", code) + [str(REPO)] * (str(REPO) in code)
        assert not machine, f"{page.name}: shows paths of the build machine: {machine}"
        for href in seen.citations:
            target = urlparse(href)
            linked = (page.parent / unquote(target.path)).resolve() if target.path else page.resolve()
            assert linked == references.resolve() and target.fragment in reference_ids, (
                f"{page.name}: citation link {href!r} does not reach an entry of the references page")
        if page not in executed:
            continue
        warned = sorted(set(re.findall(r"\b\w+Warning: [^\n<]{0,80}", code)))
        assert not warned, f"{page.name}: Python warnings printed in the chapter: {warned}"
        notebook = json.loads((REPO / "notebooks" / f"{page.stem}.ipynb").read_text())
        roles = sum(len(GLUE_ROLE.findall("".join(cell["source"]))) for cell in notebook["cells"]
                    if cell["cell_type"] == "markdown")
        assert seen.pasted == roles, f"{page.name}: {roles} glued values in the prose, {seen.pasted} pasted"
        figures = [image for image in seen.images if "_images/" in image["src"]
                   or image["src"].startswith("data:image/")]
        assert figures, f"{page.name}: no figure in the rendered page"
        missing = [image["src"] or "(empty src)" for image in seen.images if not image_exists(page, image["src"])]
        assert not missing, f"{page.name}: images that do not load: {missing}"
        for image in figures:
            assert image["alt"].strip() and not image["alt"].startswith("_images"), (
                f"{page.name}: a figure without alt text ({image['src'][:60]})")
            assert image["figure"] is not None, f"{page.name}: an image outside a captioned figure"
        assert all(re.match(r"Figure \d+", caption.strip()) for caption in seen.figcaptions), (
            f"{page.name}: unnumbered figure captions {seen.figcaptions}")
    assert formulas > 0, "no typeset formula in the whole book"

    _, index = rendered(chromium, references)
    assert len(reference_ids) > 20 and "doi" in " ".join(index.text).lower()

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for part, page in (("chapters", chapters[0]), ("benchmark", html / "leaderboard.html"),
                       ("reference", references)):
        screenshot = ARTEFACTS / f"{part}.png"
        screenshot.unlink(missing_ok=True)
        subprocess.run([chromium, *CHROMIUM_FLAGS, "--window-size=1280,1600", f"--screenshot={screenshot}",
                        page.as_uri()], capture_output=True, timeout=180, check=True)
        assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
