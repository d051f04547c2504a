"""Download the files of a dataset manifest with pooch, verifying published checksums.

Files go to ``<data root>/<dataset name>/``; the data root is the ``root`` argument, else the
``SITSBENCH_DATA`` environment variable, else ``~/.cache/sitsbench``.

What is verified and what is resumable:

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

Archives (``.zip``, ``.tar.gz``) are downloaded as they are; unpack them under the same folder for the
readers in :mod:`sitsbench.data.readers`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pooch
import requests

from sitsbench.data.manifests import load_manifest

ENV_VAR = "SITSBENCH_DATA"
DEFAULT_ROOT = Path("~/.cache/sitsbench")
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0


class DownloadError(RuntimeError):
    """A download failed (offline, HTTP error, checksum mismatch); the message names the URL and data root."""


@dataclass(frozen=True)
class FetchedFile:
    path: Path
    url: str
    checksum: str
    """The published checksum, or ``sha256:<hex>`` of the file when none is published."""
    verified: bool


def data_root(root: str | Path | None = None) -> Path:
    """Where datasets are stored: ``root``, else ``$SITSBENCH_DATA``, else ``~/.cache/sitsbench``."""
    chosen = root if root is not None else os.environ.get(ENV_VAR) or DEFAULT_ROOT
    return Path(chosen).expanduser()


def fetch(
    name: str,
    root: str | Path | None = None,
    retries: int = 1,
    connect_timeout: float = CONNECT_TIMEOUT,
    progress: bool = False,
    manifest: dict | None = None,
) -> list[FetchedFile]:
    """Download every file of dataset ``name`` into ``<data root>/<name>/`` and return what was fetched."""
    manifest = manifest if manifest is not None else load_manifest(name)
    target = data_root(root) / manifest["name"]
    if not manifest["downloads"]:
        raise DownloadError(
            f"dataset {manifest['name']!r} has no direct download URL; get it from {manifest['homepage']} "
            f"and unpack it under {target} (data root {data_root(root)})"
        )
    pooch.get_logger().setLevel("WARNING")
    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=(connect_timeout, READ_TIMEOUT))
    fetched = []
    for entry in manifest["downloads"]:
        url, filename, checksum = entry["url"], entry["filename"], entry["checksum"]
        known = None if checksum == "unknown" else checksum
        store = pooch.create(
            path=target, base_url="", registry={filename: known}, urls={filename: url}, retry_if_failed=retries
        )
        where = f"{url} into {target / filename} (data root {data_root(root)})"
        try:
            path = Path(store.fetch(filename, downloader=downloader))
        except requests.exceptions.RequestException as error:
            raise DownloadError(
                f"could not download {where}: {type(error).__name__}: {error}. Are you offline? "
                f"Set --root or ${ENV_VAR} to use another data root."
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
