"""Get the files of a dataset manifest: download them with pooch, or take them from a local copy; verify checksums.

Files go to ``<data root>/<dataset name>/<filename>`` (``filename`` may hold sub-folders, the readers' layout);
the data root is the ``root`` argument, else the ``SITSBENCH_DATA`` environment variable, else
``~/.cache/sitsbench``.

Downloads (the default) -- what is verified and what is resumable:

* a file with a published checksum (``sha256:`` or ``md5:``) is verified after download; pooch downloads
  into a temporary file and only moves it into place when the checksum matches, so a corrupt download is
  never kept (:class:`DownloadError` says so);
* a file without a published checksum (``unknown``) is kept unverified; its SHA-256 is reported so that it
  can be recorded;
* resuming works per file, not per byte: files already present (and matching their checksum) are not
  downloaded again, so re-running ``fetch`` after an interruption downloads only the missing files; a
  partially downloaded file is discarded and downloaded again from the start;
* a failed connection is retried ``retries`` times (pooch waits 1 s, 2 s, ... between attempts) with a
  short connect timeout, so that an offline machine fails within seconds with the URL and the data root.

Local copies (offline machines): ``fetch(name, source=DIR)``, ``sitsbench data fetch NAME --from DIR``, or the
``SITSBENCH_DATA_FROM`` environment variable when neither is given. Nothing is downloaded; each manifest file
is looked up as ``DIR/<filename>`` (``DIR`` is one dataset's folder, laid out as the manifest's filenames):

* a file is accepted only when its checksum matches the manifest (``sha256:`` or ``md5:``). The bytes are
  hashed while they are copied into a temporary file next to the target (``.<name>.<random>.part``), and
  that temporary file is renamed onto the target (atomic on one file system) only when its checksum
  matches; otherwise it is deleted. An existing target is thus never truncated, and a good one never
  deleted: a target that already matches is left alone (not re-copied; its local copy is not even read),
  one that does not match is replaced by the verified copy;
* a file whose manifest checksum is ``unknown`` is refused: a local copy has no provenance of its own, so
  without a published checksum nothing says it is the published file. The error gives the file's SHA-256
  so that it can be checked against the publisher's file and recorded in the manifest;
* a missing or mismatching file raises :class:`DownloadError` naming the file, the expected and the actual
  checksum; nothing is copied for that file. Every file is tried before raising (the good ones are in
  place, so a re-run after fixing the copy only copies what was missing), and the error lists every bad file.

:func:`verify_local` checks a local folder in place against a manifest without copying anything (e.g. to
record that a read-only shared folder holds exactly the published files).

Archives (``.zip``, ``.tar.gz``) are downloaded as they are; unpack them under the same folder for the
readers in :mod:`sitsbench.data.readers`.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from sitsbench.data.manifests import UNKNOWN, load_manifest

ENV_VAR = "SITSBENCH_DATA"
SOURCE_ENV_VAR = "SITSBENCH_DATA_FROM"
DEFAULT_ROOT = Path("~/.cache/sitsbench")
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0
CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """Getting a file failed (offline, HTTP error, checksum mismatch, missing local file); the message names it."""


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    url: str
    checksum: str
    """The published checksum, or ``sha256:<hex>`` of the file when none is published."""
    verified: bool
    source: Path | None = None
    """The local file it was taken from or checked in place (``None`` for a download)."""


REAL_DATA_ENV_VAR = "SITSBENCH_REAL_DATA"
DATA_ROOT_PREFIX = "DATA_ROOT/"
"""Prefix of a dataset path under the folder of real samples (:func:`real_data_root`), as the book's pages and
chapter parameters write it: ``DATA_ROOT/igarss2019_victoria_s2``."""


def real_data_root() -> Path:
    """The folder of real samples that the book's chapters read: ``$SITSBENCH_REAL_DATA``, else ``shared/data``
    beside the repository (``make book REAL_DATA=DIR`` sets it for the build)."""
    chosen = os.environ.get(REAL_DATA_ENV_VAR)
    return Path(chosen).expanduser() if chosen else Path(__file__).resolve().parents[3] / "shared" / "data"


def expand_data_root(spec: str) -> str:
    """``spec`` with a leading ``DATA_ROOT/`` replaced by :func:`real_data_root` (other specs unchanged)."""
    return str(real_data_root() / spec[len(DATA_ROOT_PREFIX):]) if spec.startswith(DATA_ROOT_PREFIX) else spec


def data_root(root: str | Path | None = None) -> Path:
    """Where datasets are stored: ``root``, else ``$SITSBENCH_DATA``, else ``~/.cache/sitsbench``."""
    chosen = root if root is not None else os.environ.get(ENV_VAR) or DEFAULT_ROOT
    return Path(chosen).expanduser()


def local_source(source: str | Path | None = None) -> Path | None:
    """The local copy to take files from: ``source``, else ``$SITSBENCH_DATA_FROM``, else ``None`` (download)."""
    chosen = source if source is not None else os.environ.get(SOURCE_ENV_VAR) or None
    return None if chosen is None else Path(chosen).expanduser()


def fetch(
    name: str,
    root: str | Path | None = None,
    retries: int = 1,
    connect_timeout: float = CONNECT_TIMEOUT,
    progress: bool = False,
    manifest: dict | None = None,
    source: str | Path | None = None,
) -> list[FetchedFile]:
    """Get every file of dataset ``name`` into ``<data root>/<name>/`` and return what was fetched.

    Files are downloaded, unless ``source`` (else ``$SITSBENCH_DATA_FROM``) names a local copy of the dataset's
    folder: then they are verified and copied from it (see the module docstring), and nothing is downloaded.
    """
    manifest = manifest if manifest is not None else load_manifest(name)
    target = data_root(root) / manifest["name"]
    local = local_source(source)
    if local is not None:
        return _copy_local(manifest, local, target)
    if not manifest["downloads"]:
        raise DownloadError(
            f"dataset {manifest['name']!r} has no direct download URL; get it from {manifest['homepage']} "
            f"and unpack it under {target} (data root {data_root(root)})"
        )
    import pooch  # imported here: `sitsbench --help` and the other commands do not pay for it
    import requests

    pooch.get_logger().setLevel("WARNING")
    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=(connect_timeout, READ_TIMEOUT))
    fetched = []
    for entry in manifest["downloads"]:
        url, filename, checksum = entry["url"], entry["filename"], entry["checksum"]
        known = None if checksum == UNKNOWN else checksum
        store = pooch.create(
            path=target, base_url="", registry={filename: known}, urls={filename: url}, retry_if_failed=retries
        )
        where = f"{url} into {target / filename} (data root {data_root(root)})"
        try:
            path = Path(store.fetch(filename, downloader=downloader))
        except requests.exceptions.RequestException as error:
            raise DownloadError(
                f"could not download {where}: {type(error).__name__}: {error}. Are you offline? "
                f"Set --root or ${ENV_VAR} to use another data root, or --from / ${SOURCE_ENV_VAR} "
                f"to take the files from a local copy."
            ) from error
        except ValueError as error:
            raise DownloadError(
                f"checksum mismatch for {where}: {error}. The corrupt download was deleted, not kept."
            ) from error
        if known is None:
            fetched.append(FetchedFile(path, url, f"sha256:{pooch.file_hash(str(path))}", verified=False))
        else:
            fetched.append(FetchedFile(path, url, known, verified=True))
    return fetched


def verify_local(name: str, directory: str | Path, manifest: dict | None = None) -> list[FetchedFile]:
    """Check that ``directory`` holds every file of dataset ``name`` (as ``directory/<filename>``) with the
    manifest's checksum, without copying or changing anything.

    Returns one verified :class:`FetchedFile` per manifest file (``path`` = ``source`` = the local file);
    raises :class:`DownloadError` listing every missing file, mismatching file (expected and actual checksum)
    and file whose checksum is ``unknown`` in the manifest. Files in ``directory`` that the manifest does not
    list (a LICENSE note, say) are ignored.
    """
    manifest = manifest if manifest is not None else load_manifest(name)
    directory = Path(directory).expanduser()
    _check_local_folder(manifest, directory)
    verified, problems = [], []
    for entry in manifest["downloads"]:
        path = directory / entry["filename"]
        problem = _local_problem(manifest["name"], entry, path)
        if problem is None:
            actual = _file_checksum(path, entry["checksum"])
            if actual != entry["checksum"]:
                problem = _mismatch(manifest["name"], entry, path, actual)
        if problem is None:
            verified.append(FetchedFile(path, entry["url"], entry["checksum"], verified=True, source=path))
        else:
            problems.append(problem)
    _raise_problems(manifest["name"], directory, problems, copied=False)
    return verified


def _copy_local(manifest: dict, directory: Path, target: Path) -> list[FetchedFile]:
    """Copy the verified files of ``directory`` into ``target`` (see the module docstring)."""
    _check_local_folder(manifest, directory)
    fetched, problems = [], []
    for entry in manifest["downloads"]:
        filename, expected = entry["filename"], entry["checksum"]
        path, destination = directory / filename, target / filename
        problem = _local_problem(manifest["name"], entry, path)
        if problem is None:
            if destination.is_file() and _file_checksum(destination, expected) == expected:
                pass  # already in place: left alone
            else:
                actual = _atomic_copy(path, destination, expected)
                if actual != expected:
                    problem = _mismatch(manifest["name"], entry, path, actual)
        if problem is None:
            fetched.append(FetchedFile(destination, entry["url"], expected, verified=True, source=path))
        else:
            problems.append(problem)
    _raise_problems(manifest["name"], directory, problems, copied=True)
    return fetched


def _check_local_folder(manifest: dict, directory: Path) -> None:
    if not directory.is_dir():
        raise DownloadError(
            f"local copy {directory} of dataset {manifest['name']!r} is not a folder (from --from or "
            f"${SOURCE_ENV_VAR}; it must hold the manifest's files as <folder>/<filename>)"
        )
    if not manifest["downloads"]:
        raise DownloadError(
            f"dataset {manifest['name']!r} lists no files with checksums, so the local copy {directory} "
            f"cannot be verified (get the data from {manifest['homepage']})"
        )


def _local_problem(name: str, entry: dict, path: Path) -> str | None:
    """Why ``path`` cannot be taken as the manifest file ``entry`` before hashing it, or ``None``."""
    filename, expected = entry["filename"], entry["checksum"]
    if not path.is_file():
        return f"{filename}: missing (expected {path}; expected checksum {expected}, actual: no file)"
    if expected == UNKNOWN:
        actual = _file_checksum(path, "sha256:")
        return (
            f"{filename}: the manifest of {name!r} publishes no checksum (unknown), so a local copy cannot be "
            f"verified; download it instead, or check the file against the publisher's and record its "
            f"checksum ({actual}) in the manifest"
        )
    return None


def _mismatch(name: str, entry: dict, path: Path, actual: str) -> str:
    return f"{entry['filename']}: checksum mismatch for {path}: expected {entry['checksum']}, actual {actual}"


def _raise_problems(name: str, directory: Path, problems: list[str], copied: bool) -> None:
    if not problems:
        return
    what = "nothing was copied for these files" if copied else "nothing was changed"
    raise DownloadError(
        f"local copy {directory} does not match the manifest of dataset {name!r} "
        f"({len(problems)} file(s); {what}):\n  " + "\n  ".join(problems)
    )


def _algorithm(checksum: str) -> str:
    algorithm = checksum.split(":", 1)[0]
    if algorithm not in ("sha256", "md5"):
        raise ValueError(f"unsupported checksum {checksum!r} (expected sha256:<hex> or md5:<hex>)")
    return algorithm


def _file_checksum(path: Path, like: str) -> str:
    """``<algorithm>:<hex>`` of the file at ``path``, with the algorithm of the checksum ``like``."""
    algorithm = _algorithm(like)
    digest = hashlib.new(algorithm)
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK), b""):
            digest.update(chunk)
    return f"{algorithm}:{digest.hexdigest()}"


def _atomic_copy(source: Path, destination: Path, expected: str) -> str:
    """Copy ``source`` to ``destination`` through a temporary file renamed into place only when the copied bytes
    have the checksum ``expected``; return the copied bytes' checksum (the temporary file is gone either way)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    temporary = destination.with_name(f".{destination.name}.{secrets.token_hex(6)}.part")
    algorithm = _algorithm(expected)
    digest = hashlib.new(algorithm)
    try:
        with open(source, "rb") as reader, open(temporary, "xb") as writer:
            for chunk in iter(lambda: reader.read(CHUNK), b""):
                digest.update(chunk)
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        actual = f"{algorithm}:{digest.hexdigest()}"
        if actual == expected:
            os.replace(temporary, destination)
        return actual
    finally:
        temporary.unlink(missing_ok=True)
