"""Access to the official code of the papers the tests compare with (never copied into this repository): a file of
``repo`` at ``commit``, read from ``$SITSBENCH_OFFICIAL_CODE`` (a folder with a checkout ``<name>/`` or a bare
mirror ``<owner>+<name>/repo`` of each repository) or from the sessions' mirror folder; ``None`` when absent, so
that the tests using it skip with the reason."""

import os
import subprocess
from pathlib import Path

MIRRORS = [os.environ.get("SITSBENCH_OFFICIAL_CODE"), "/work/.mirror"]


def official_file(repo: str, commit: str, path: str) -> str | None:
    """The text of ``path`` in ``repo`` (``owner/name``) at ``commit``, or ``None`` when no copy is available."""
    for folder in filter(None, MIRRORS):
        checkout = Path(folder) / repo.split("/")[1] / path
        if checkout.is_file():
            return checkout.read_text()
        git_dir = Path(folder) / repo.replace("/", "+") / "repo"
        if git_dir.is_dir():
            shown = subprocess.run(["git", "--git-dir", str(git_dir), "show", f"{commit}:{path}"],
                                   capture_output=True, text=True, check=False)
            if shown.returncode == 0:
                return shown.stdout
    return None
