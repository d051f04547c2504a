"""The built HTML book opened in headless Chromium: every chapter page renders its figures.

Uses Debian's ``chromium`` binary (``.ci/run`` installs it); skipped, with the reason, when it is absent.
The book is taken from ``$SITSBENCH_BOOK_HTML`` when set, reused from ``_build/html`` when ``make book`` built it
after the last change to a notebook, else chapter 1 is built (quick profile) into a temporary folder. A screenshot of the index page is kept as an artefact
in ``_build/browser/index.png``.
"""

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from sitsbench import book

REPO = Path(__file__).resolve().parent.parent
ARTEFACTS = REPO / "_build" / "browser"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=3000"]


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


class ImageSources(HTMLParser):
    """The ``src`` of every ``<img>`` in a DOM."""

    def __init__(self):
        super().__init__()
        self.sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.sources.append(dict(attrs).get("src") or "")


def rendered_dom(chromium: str, page: Path) -> str:
    """The DOM of ``page`` after Chromium loaded it (scripts run), as HTML text."""
    result = subprocess.run([chromium, *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, f"chromium failed on {page}: {result.stderr[-2000:]}"
    return result.stdout


def image_exists(page: Path, source: str) -> bool:
    """Whether an ``<img src>`` of ``page`` points to a non-empty image (a file next to the page or a data URI)."""
    if source.startswith("data:image/"):
        return len(source.split(",", 1)[-1]) > 100
    url = urlparse(source)
    path = Path(unquote(url.path)) if url.scheme == "file" else (page.parent / unquote(url.path))
    return url.scheme in ("", "file") and path.is_file() and path.stat().st_size > 0


def built_book(tmp_path_factory) -> Path:
    """The book to open (see the module docstring)."""
    if os.environ.get("SITSBENCH_BOOK_HTML"):
        return Path(os.environ["SITSBENCH_BOOK_HTML"])
    html = REPO / "_build" / "html"
    index = html / "index.html"
    notebooks = list((REPO / "notebooks").glob("*.ipynb"))
    if index.is_file() and all(nb.stat().st_mtime < index.stat().st_mtime for nb in notebooks):
        return html
    return book.build("quick", tmp_path_factory.mktemp("book") / "_build", only=["01"])


@pytest.mark.slow
def test_every_chapter_page_renders_its_figures(tmp_path_factory):
    chromium = chromium_binary()
    if chromium is None:
        pytest.skip("chromium is not installed (Debian package `chromium`; .ci/run installs it)")
    html = built_book(tmp_path_factory)
    pages = sorted((html / "notebooks").glob("*.html"))
    assert pages, f"no chapter page in {html / 'notebooks'}"
    for page in pages:
        parser = ImageSources()
        parser.feed(rendered_dom(chromium, page))
        figures = [src for src in parser.sources if "_images/" in src or src.startswith("data:image/")]
        assert figures, f"{page.name}: no figure in the rendered page"
        missing = [src or "(empty src)" for src in parser.sources if not image_exists(page, src)]
        assert not missing, f"{page.name}: images that do not load: {missing}"

    leaderboard = html / "leaderboard.html"
    assert leaderboard.is_file()
    assert "Leaderboard" in rendered_dom(chromium, leaderboard)

    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTEFACTS / "index.png"
    screenshot.unlink(missing_ok=True)
    subprocess.run([chromium, *CHROMIUM_FLAGS, "--window-size=1280,900", f"--screenshot={screenshot}",
                    (html / "index.html").as_uri()], capture_output=True, timeout=120, check=True)
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and screenshot.stat().st_size > 10_000
