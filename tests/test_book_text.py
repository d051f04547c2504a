"""The chapters' prose, read without executing anything: numbers come from the runs (MyST-NB glue), citations
resolve in ``book/references.bib``, every chapter follows the template (overview, prerequisites, time, summary,
what comes next, exercises with hidden solutions) and no display formula is broken by Markdown."""

import json
import re
from pathlib import Path

import pytest

from sitsbench.book import notebooks_in_toc

REPO = Path(__file__).resolve().parent.parent
BIB = REPO / "book" / "references.bib"
CHAPTERS = notebooks_in_toc(REPO / "book")

ALLOWED_NUMBERS: dict[str, str] = {
    "1 %": "label fraction (a parameter)", "10 %": "label fraction (a parameter)",
    "100 %": "label fraction (a parameter)", "95 %": "confidence level",
    "2D": "dimension", "3D": "dimension", "1D": "dimension",
}
"""Numbers that are constants, not results, in every chapter: the token and why it is allowed. A chapter adds its
own in its notebook metadata (``metadata.sitsbench.constants``: token -> reason; a year of a data description, a
figure published in a paper). Integers up to 100 written without a percent sign (counts of dates, bands, epochs,
classes) are allowed everywhere; any other number in prose must be glued from the chapter's outputs."""


def chapter_constants(stem: str) -> dict[str, str]:
    notebook = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())
    return notebook["metadata"].get("sitsbench", {}).get("constants", {})


def markdown_cells(stem: str) -> list[str]:
    notebook = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "markdown"]


def code_cells(stem: str) -> list[str]:
    notebook = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())
    return ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]


def prose(text: str) -> str:
    """``text`` without what is not prose: math, code, roles (glue, cite, doc), link targets, directive options,
    ordered-list markers and headings' chapter numbers."""
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    text = re.sub(r"\$\$.*?\$\$", " ", text, flags=re.S)
    text = re.sub(r"\$[^$\n]+\$", " ", text)
    text = re.sub(r"\{[\w:-]+\}`[^`]*`", " ", text)
    text = re.sub(r"`[^`]*`", " ", text)
    text = re.sub(r"\]\([^)]*\)", "]", text)
    text = re.sub(r"<!--.*?-->", " ", text, flags=re.S)
    text = re.sub(r"^\s*:[\w-]+:.*$", " ", text, flags=re.M)
    text = re.sub(r"^(\s*)\d+\.\s", r"\1", text, flags=re.M)
    text = re.sub(r"^#+\s*\d+(\.\d+)*\.?\s", "# ", text, flags=re.M)
    text = re.sub(r"\*\*Exercise \d+\.\d+\*\*", " ", text)
    return text


NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*)(\s?%|D\b)?")


def bare_numbers(text: str, stem: str) -> list[str]:
    """Result-like numbers of ``text``'s prose that are not allowed constants."""
    allowed = {**ALLOWED_NUMBERS, **(chapter_constants(stem) if stem in CHAPTERS else {})}
    found = []
    for match in NUMBER.finditer(prose(text)):
        number, suffix = match.group(1).rstrip(".,"), (match.group(2) or "").strip()
        token = f"{number} {suffix}" if suffix == "%" else number + suffix
        if token in allowed or number in allowed:
            continue
        if suffix != "%" and re.fullmatch(r"\d+", number) and int(number) <= 100:
            continue
        found.append(token)
    return found


def test_the_number_check_flags_results_and_spares_constants():
    assert bare_numbers("The forest reaches 0.83 OA, 12 % above TempCNN, on 1,934 parcels.", "x") == [
        "0.83", "12 %", "1,934"]
    assert bare_numbers("It reaches {glue:text}`ch2_oa:.3f` with 10 bands, 36 dates and 1 % of the labels "
                        "($x_{2019}$, `seed=2024`, {cite:t}`breiman2001random`).", "x") == []


@pytest.mark.parametrize("stem", CHAPTERS)
def test_no_bare_result_number_in_prose(stem):
    found = {number for cell in markdown_cells(stem) for number in bare_numbers(cell, stem)}
    assert not found, (f"{stem}: numbers typed in the prose; glue them from the chapter's outputs "
                       f"(myst_nb.glue + {{glue:text}}) or, for a constant, add them to metadata.sitsbench.constants with the reason: {sorted(found)}")


GLUE_ROLE = re.compile(r"\{glue(?::\w+)?\}`(?:[^`:]*::)?([\w-]+)(?::[^`]*)?`")


@pytest.mark.parametrize("stem", CHAPTERS)
def test_every_glued_name_is_glued_by_the_chapter(stem):
    used = {key for cell in markdown_cells(stem) for key in GLUE_ROLE.findall(cell)}
    code = "\n".join(code_cells(stem))
    # glued by name (glue("ch6_n_boot", ...)), or in a loop over a table that spells the name out
    missing = sorted(key for key in used if not re.search(rf"[\"']{re.escape(key)}[\"']", code))
    assert not missing, f"{stem}: glue names used in the prose that no code cell glues: {missing}"


def bibliography_keys() -> dict[str, str]:
    entries = re.findall(r"@\w+\{([\w:-]+),(.*?)\n\}", BIB.read_text(), flags=re.S)
    return dict(entries)


def cited_keys(text: str) -> set[str]:
    keys = set()
    for group in re.findall(r"\{cite(?::\w+)?\}`([^`]*)`", text):
        keys.update(key.strip() for key in group.split(","))
    return keys


def test_bibliography_entries_have_a_doi_and_are_all_cited():
    entries = bibliography_keys()
    assert len(entries) >= 20
    no_link = [key for key, body in entries.items() if not re.search(r"\b(doi|url)\s*=", body)]
    assert not no_link, f"entries without a DOI or URL: {no_link}"
    pages = [cell for stem in CHAPTERS for cell in markdown_cells(stem)]
    pages += [p.read_text() for p in (REPO / "book").glob("*.md")]
    uncited = sorted(set(entries) - set().union(*(cited_keys(text) for text in pages)))
    assert not uncited, f"references.bib entries that no page cites: {uncited}"
    assert "{bibliography}" in (REPO / "book" / "references.md").read_text()


@pytest.mark.parametrize("stem", CHAPTERS)
def test_citations_resolve(stem):
    unknown = sorted(set().union(*(cited_keys(cell) for cell in markdown_cells(stem))) - set(bibliography_keys()))
    assert not unknown, f"{stem}: citation keys missing from book/references.bib: {unknown}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_follows_the_template(stem):
    cells = markdown_cells(stem)
    opening = "\n".join(cells[:2])
    for part in ("**Overview.**", "**Prerequisites.**", "**Time.**"):
        assert part in opening, f"{stem}: the opening lacks {part}"
    text = "\n".join(cells)
    for heading in ("## Summary", "## What comes next", "## Exercises"):
        assert re.search(rf"^{re.escape(heading)}\s*$", text, flags=re.M), f"{stem}: no '{heading}' section"
    exercises = text[text.index("## Exercises"):]
    count = len(re.findall(r"^\*\*Exercise \d+\.\d+\*\*", exercises, flags=re.M))
    assert 2 <= count <= 4, f"{stem}: {count} exercises (2 to 4 expected)"
    solutions = len(re.findall(r"^:{3,}\{admonition\} Solution\s*\n:class: dropdown", exercises, flags=re.M))
    assert solutions == count, f"{stem}: {count} exercises but {solutions} hidden solutions"
    assert re.search(r"\bpredict", exercises, flags=re.I), f"{stem}: no exercise asks to predict a result"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_display_math_is_not_broken_by_markdown(stem):
    """A line of a ``$$`` block that starts like a list item (``- c``) or a heading ends the formula."""
    for cell in markdown_cells(stem):
        for block in re.findall(r"\$\$(.*?)\$\$", cell, flags=re.S):
            bad = [line for line in block.splitlines() if re.match(r"\s*([-+*]\s|#|>|\d+\.\s)", line)]
            assert not bad, f"{stem}: display-math lines that Markdown reads as structure: {bad}"


CODE_COLUMNS = 88
"""The longest code line the book's column shows without a scroll bar in a 1280 px wide window, at the code size of
``book/_static/code.css`` (the browser test measures every code cell of the rendered chapters)."""


@pytest.mark.parametrize("stem", CHAPTERS)
def test_the_first_screen_is_prose_and_code_fits_the_column(stem):
    """A chapter opens on its prose: the parameters cell and the set-up cell after it (imports, knobs) are folded
    (``hide-input``: the reader unfolds them; papermill's injected cell is removed from the page by
    :func:`sitsbench.book.hide_injected_parameters`), and no code line is cut off at the column's edge."""
    notebook = json.loads((REPO / "notebooks" / f"{stem}.ipynb").read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert "parameters" in code[0]["metadata"].get("tags", []), f"{stem}: the first code cell is not the parameters"
    for cell in code[:2]:
        assert "hide-input" in cell["metadata"].get("tags", []), f"{stem}: a set-up cell is not folded:\n" + \
            "".join(cell["source"])[:200]
    long = [line for cell in code for line in "".join(cell["source"]).splitlines() if len(line) > CODE_COLUMNS]
    assert not long, f"{stem}: {len(long)} code lines wider than {CODE_COLUMNS} columns, e.g. {long[0]!r}"
