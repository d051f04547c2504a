"""Build the executable book: run every chapter notebook headless with papermill, then render the HTML.

``python -m sitsbench.book --profile quick`` (what ``make book`` runs):

1. copies ``book/`` to a fresh ``_build/book_src`` (nothing stale survives from an earlier build);
2. executes each notebook of ``notebooks/`` listed in ``book/_toc.yml`` with papermill, injecting ``profile``
   and ``output_dir`` (run records land in ``_build/runs/<notebook>/``); any cell error stops the build and
   names the notebook and the cell;
3. runs the chapters listed in :data:`REAL_DATA_RUNS` again on real labelled samples (``--real-data DIR``,
   default ``../shared/data`` beside the repository; each run is skipped, and the page says so, when its data is
   absent), records in ``_build/runs/real/<chapter>--<dataset>/``;
4. writes the generated pages (dataset table, leaderboard, real-data results) from :data:`PAGE_GENERATORS`,
   after the notebooks so that they include the records of this build;
5. runs ``jupyter-book build`` (Jupyter Book 1, Sphinx; offline) on the executed copies into ``_build/html``.
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import papermill
import yaml
from tqdm.auto import tqdm

from sitsbench.results.real_data import REAL_RUNS

REPO_ROOT = Path(__file__).resolve().parent.parent

PAGE_GENERATORS: dict[str, str] = {
    "datasets.md": "sitsbench.data.manifests:datasets_page",
    "leaderboard.md": "sitsbench.results.leaderboard:leaderboard_page",
    "real_data.md": "sitsbench.results.real_data:real_data_page",
}
"""Book pages written at build time: file name in the book source -> ``"module:function"`` returning MyST
(the leaderboard and real-data pages take the build's run folder)."""

REAL_DATA_RUNS: tuple[tuple[str, str], ...] = (
    ("02_supervised_baselines", "igarss2019_victoria_s2"),
    ("02_supervised_baselines", "sits_samples/cerrado_2classes.rda"),
    ("06_downstream", "igarss2019_victoria_s2"),
    ("06_downstream", "sits_samples/cerrado_2classes.rda"),
)
"""(chapter, dataset path under the real-data folder): the chapters re-run on real labelled samples."""
DEFAULT_REAL_DATA = REPO_ROOT.parent / "shared" / "data"


class BookBuildError(RuntimeError):
    """A notebook failed or the HTML build failed; the message names the notebook and the cell."""


def toc_files(toc_path: Path) -> list[str]:
    """Every ``file:`` entry of a Jupyter Book ``_toc.yml``, in order."""
    toc = yaml.safe_load(toc_path.read_text())
    files: list[str] = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))
            for part in entry.get("chapters", []):
                walk([part])

    for part in toc.get("parts", []):
        walk(part.get("chapters", []))
    walk(toc.get("chapters", []))
    return files


def notebooks_in_toc(book_dir: Path) -> list[str]:
    """The notebook stems (``notebooks/<stem>``) that the table of contents lists."""
    return [Path(f).name for f in toc_files(book_dir / "_toc.yml") if f.startswith("notebooks/")]


def _load_generator(spec: str) -> Callable[[], str]:
    module, function = spec.split(":")
    return getattr(importlib.import_module(module), function)


def write_generated_pages(source: Path, results_dir: Path) -> list[Path]:
    written = []
    for name, spec in PAGE_GENERATORS.items():
        generator = _load_generator(spec)
        text = generator(results_dir) if name != "datasets.md" else generator()
        path = source / name
        path.write_text(text)
        written.append(path)
    return written


def execute_notebook(notebook: Path, output: Path, parameters: dict, cwd: Path) -> float:
    """Run one notebook with papermill; raise :class:`BookBuildError` naming the failing cell."""
    start = time.perf_counter()
    try:
        papermill.execute_notebook(
            str(notebook), str(output), parameters=parameters, kernel_name="python3", cwd=str(cwd),
            progress_bar=False,
        )
    except papermill.PapermillExecutionError as error:
        raise BookBuildError(
            f"notebook {notebook.name} failed in cell {error.exec_count}: {error.ename}: {error.evalue} "
            f"(executed copy with the traceback: {output})"
        ) from error
    return time.perf_counter() - start


def real_run_name(stem: str, dataset: str) -> str:
    return f"{stem}--{Path(dataset).stem}"


def run_real_data(profile: str, runs: Path, executed: Path, real_data: Path | None) -> list[str]:
    """Execute :data:`REAL_DATA_RUNS` whose data is in ``real_data``; returns a line per skipped run."""
    skipped = []
    (runs / REAL_RUNS).mkdir(parents=True, exist_ok=True)
    executed.mkdir(parents=True, exist_ok=True)
    for stem, relative in REAL_DATA_RUNS:
        path = None if real_data is None else real_data / relative
        name = real_run_name(stem, relative)
        if path is None or not path.exists():
            skipped.append(f"{stem} on {relative}: {path or relative} is not on this machine")
            continue
        seconds = execute_notebook(
            REPO_ROOT / "notebooks" / f"{stem}.ipynb", executed / f"{name}.ipynb",
            {"profile": profile, "output_dir": str(runs / REAL_RUNS / name), "dataset": str(path)}, cwd=REPO_ROOT,
        )
        tqdm.write(f"  {name}: {seconds:.0f} s")
    (runs / REAL_RUNS / "skipped.txt").write_text("".join(f"{line}\n" for line in skipped))
    for line in skipped:
        tqdm.write(f"  real-data run skipped: {line}")
    return skipped


def build(profile: str = "quick", build_dir: Path = REPO_ROOT / "_build", only: list[str] | None = None,
          html: bool = True, real_data: Path | None = DEFAULT_REAL_DATA) -> Path:
    """Execute the notebooks and build the HTML book; returns the HTML folder (or the source folder)."""
    book_dir, notebook_dir = REPO_ROOT / "book", REPO_ROOT / "notebooks"
    source = build_dir / "book_src"
    runs = build_dir / "runs"
    shutil.rmtree(source, ignore_errors=True)
    shutil.rmtree(build_dir / "html", ignore_errors=True)
    shutil.copytree(book_dir, source)
    stems = notebooks_in_toc(book_dir)
    missing = [stem for stem in stems if not (notebook_dir / f"{stem}.ipynb").exists()]
    if missing:
        raise BookBuildError(f"book/_toc.yml lists notebooks that do not exist in notebooks/: {missing}")
    selected = [s for s in stems if not only or any(s.startswith(o) for o in only)]
    (source / "notebooks").mkdir(exist_ok=True)
    progress = tqdm(selected, desc=f"executing notebooks ({profile})", unit="notebook")
    for stem in progress:
        progress.set_postfix_str(stem)
        seconds = execute_notebook(
            notebook_dir / f"{stem}.ipynb",
            source / "notebooks" / f"{stem}.ipynb",
            {"profile": profile, "output_dir": str(runs / stem)},
            cwd=REPO_ROOT,
        )
        tqdm.write(f"  {stem}: {seconds:.0f} s")
    if not only:
        shutil.rmtree(runs / REAL_RUNS, ignore_errors=True)
        run_real_data(profile, runs, build_dir / "real_data_notebooks", real_data)
    write_generated_pages(source, runs)
    if not html:
        return source
    sphinx_out = build_dir / "sphinx"
    shutil.rmtree(sphinx_out, ignore_errors=True)
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(source), "--path-output", str(sphinx_out), "--quiet"], cwd=REPO_ROOT
    )
    if result.returncode:
        raise BookBuildError(f"jupyter-book build failed with exit code {result.returncode}")
    html_dir = build_dir / "html"
    shutil.move(sphinx_out / "_build" / "html", html_dir)
    shutil.rmtree(sphinx_out, ignore_errors=True)
    return html_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="quick", choices=["quick", "full"])
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "_build")
    parser.add_argument("--only", nargs="*", help="execute only notebooks whose name starts with these prefixes")
    parser.add_argument("--no-html", action="store_true", help="execute the notebooks but skip the HTML build")
    parser.add_argument("--real-data", type=Path, default=DEFAULT_REAL_DATA,
                        help="folder of the real samples re-run by chapters 2 and 6 (default: ../shared/data)")
    args = parser.parse_args(argv)
    try:
        out = build(args.profile, args.build_dir, args.only, html=not args.no_html, real_data=args.real_data)
    except BookBuildError as error:
        print(f"book build failed: {error}", file=sys.stderr)
        return 1
    print(f"book built: {out / 'index.html' if not args.no_html else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
