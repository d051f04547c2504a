"""Writing without destroying: temporary siblings renamed into place, and an exclusive claim on an output.

Every file or folder that sitsbench writes is first written under a temporary name in the same folder and then
renamed into place (a rename within one file system is atomic): an interrupted or failing command leaves what existed
before untouched, and a reader never sees half a file. :func:`exclusive` claims an output for one process (an
advisory ``fcntl`` lock on ``<output>.lock``, released by the operating system when the process dies, even by
``SIGKILL``), so that two runs on one output neither duplicate the work nor corrupt it.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputBusyError(RuntimeError):
    """Another process is writing the same output."""


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def replace_path(source: str | Path, target: str | Path) -> Path:
    """Put ``source`` (a file or folder) at ``target``; an existing ``target`` is removed only once the new one is in
    place."""
    source, target = Path(source), Path(target)
    if target.is_dir() and not target.is_symlink():
        old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".old"))
        os.replace(target, old / target.name)
        os.replace(source, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)
    return target


@contextmanager
def written(path: str | Path, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``path`` (a new folder with ``directory=True``, else a free file name) to write
    into; on success it replaces ``path``, on any error it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if directory:
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    else:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
        os.close(fd)
        tmp = Path(name)
    try:
        yield tmp
        replace_path(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def remove_stale_temporaries(path: str | Path, keep: Path | None = None) -> list[Path]:
    """Remove the temporary siblings of ``path`` that :func:`written` leaves when its process is killed (SIGKILL
    runs no cleanup), except ``keep`` (the caller's own); call it only while holding the claim on ``path``
    (:func:`exclusive`), so that no live writer owns them. Returns what was removed."""
    path = Path(path)
    stale = [p for p in path.parent.glob(f".{path.name}.*.tmp*") if p.name.endswith((".tmp", f".tmp{path.suffix}"))
             and p != keep]
    for leftover in stale:
        _remove(leftover)
    return stale


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and an atomic rename."""
    with written(path) as tmp:
        tmp.write_text(text)
    return Path(path)


@contextmanager
def exclusive(path: str | Path, what: str = "output") -> Iterator[None]:
    """Hold an exclusive claim on ``path`` while the block runs; raise :class:`OutputBusyError` naming it (and the
    holder's process id) when another process holds it. The claim ends with the block or the process."""
    path = Path(path)
    lock = path.with_name(f"{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise OutputBusyError(f"{what} {path} is being written by another process (pid {holder}); wait for it "
                                  "or choose another output") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        handle.close()  # releases the lock; the lock file stays (removing it would race with a waiting process)
