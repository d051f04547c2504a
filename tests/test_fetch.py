"""Downloads (loopback server only) and local copies: data root, checksum verification, per-file resume,
atomic copies and clear errors. The local-copy tests use the real sample data in ``../shared/data`` and
are skipped where it is absent."""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import socket
import threading
import time
from pathlib import Path

import pytest

from sitsbench import cli
from sitsbench.data import fetch as fetch_module
from sitsbench.data.fetch import (
    DEFAULT_ROOT,
    ENV_VAR,
    SOURCE_ENV_VAR,
    DownloadError,
    data_root,
    fetch,
    local_source,
    verify_local,
)
from sitsbench.data.manifests import load_manifest

PAYLOAD = b"sitsbench test payload\n" * 100
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LOCAL_COPIES = {
    "victoria-s2": "igarss2019_victoria_s2",
    "eolearn-slovenia": "eolearn_slovenia_s2",
    "sits-sinop-modis": "sits_sinop_modis",
    "sits-samples": "sits_samples",
}
"""Manifest name -> folder of ``../shared/data`` holding the published files of that dataset."""


@pytest.fixture(autouse=True)
def _no_local_source(monkeypatch):
    """A ``$SITSBENCH_DATA_FROM`` of the calling shell must not turn the download tests into local copies."""
    monkeypatch.delenv(SOURCE_ENV_VAR, raising=False)


def _shared(folder: str) -> Path:
    path = SHARED_DATA / folder
    if not path.is_dir():
        pytest.skip(f"{path} absent")
    return path


class _Handler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server API)
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A static HTTP server on 127.0.0.1 serving ``payload.bin``; yields (base URL, request log)."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "payload.bin").write_bytes(PAYLOAD)
    _Handler.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Handler.requests
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manifest(url: str, checksum: str) -> dict:
    manifest = load_manifest("pastis")
    manifest["name"] = "tiny"
    manifest["downloads"] = [{"url": url, "filename": "payload.bin", "checksum": checksum}]
    return manifest


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert data_root() == DEFAULT_ROOT.expanduser()
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"


def test_verified_download_and_per_file_resume(server, tmp_path):
    base, requests = server
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    manifest = _manifest(f"{base}/payload.bin", f"sha256:{sha}")
    [item] = fetch("tiny", root=tmp_path / "root", manifest=manifest, retries=0)
    assert item.path == tmp_path / "root" / "tiny" / "payload.bin"
    assert item.path.read_bytes() == PAYLOAD and item.verified and item.checksum == f"sha256:{sha}"
    assert requests == ["/payload.bin"]
    fetch("tiny", root=tmp_path / "root", manifest=manifest, retries=0)
    assert requests == ["/payload.bin"], "a present file with a matching checksum is not downloaded again"


def test_files_land_in_the_reader_layout(server, tmp_path):
    base, _ = server
    manifest = _manifest(f"{base}/payload.bin", "unknown")
    manifest["downloads"][0]["filename"] = "2017/L2A/frh04.csv"
    [item] = fetch("tiny", root=tmp_path, manifest=manifest, retries=0)
    assert item.path == tmp_path / "tiny" / "2017" / "L2A" / "frh04.csv" and item.path.read_bytes() == PAYLOAD


def test_md5_checksum_is_accepted(server, tmp_path):
    base, _ = server
    manifest = _manifest(f"{base}/payload.bin", "md5:" + hashlib.md5(PAYLOAD).hexdigest())
    [item] = fetch("tiny", root=tmp_path, manifest=manifest, retries=0)
    assert item.verified and item.path.read_bytes() == PAYLOAD


def test_checksum_mismatch_deletes_the_download(server, tmp_path):
    base, requests = server
    url = f"{base}/payload.bin"
    manifest = _manifest(url, "sha256:" + "0" * 64)
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        fetch("tiny", root=tmp_path / "root", manifest=manifest, retries=1)
    assert url in str(info.value) and str(tmp_path / "root") in str(info.value)
    assert "deleted" in str(info.value)
    assert len(requests) == 2, "one retry after the mismatch"
    assert list((tmp_path / "root" / "tiny").iterdir()) == [], "neither the file nor a temporary file is kept"


def test_unknown_checksum_is_reported_not_verified(server, tmp_path):
    base, _ = server
    [item] = fetch("tiny", root=tmp_path, manifest=_manifest(f"{base}/payload.bin", "unknown"), retries=0)
    assert not item.verified
    assert item.checksum == "sha256:" + hashlib.sha256(PAYLOAD).hexdigest()


def test_http_error_names_url(server, tmp_path):
    base, _ = server
    with pytest.raises(DownloadError, match="could not download .*/missing.bin"):
        fetch("tiny", root=tmp_path, manifest=_manifest(f"{base}/missing.bin", "unknown"), retries=0)


def test_offline_fails_fast_naming_url_and_root(tmp_path):
    url = f"http://127.0.0.1:{_closed_port()}/PASTIS.zip"
    start = time.perf_counter()
    with pytest.raises(DownloadError) as info:
        fetch("tiny", root=tmp_path / "root", manifest=_manifest(url, "unknown"), retries=1, connect_timeout=2)
    assert time.perf_counter() - start < 10
    message = str(info.value)
    assert url in message and f"data root {tmp_path / 'root'}" in message and "offline" in message


def test_dataset_without_direct_download(tmp_path):
    with pytest.raises(DownloadError, match="no direct download URL; get it from https://github.com/lukaskondmann/DENETHOR"):
        fetch("denethor", root=tmp_path)


def test_cli_fetch_pastis_offline(monkeypatch, tmp_path, capsys):
    """``sitsbench data fetch pastis`` with the PASTIS URL moved to a closed loopback port (never the network)."""
    real = load_manifest("pastis")
    url = f"http://127.0.0.1:{_closed_port()}/record/5012942/files/PASTIS.zip"
    real["downloads"][0]["url"] = url
    monkeypatch.setattr(fetch_module, "load_manifest", lambda name: real)
    start = time.perf_counter()
    assert cli.main(["data", "fetch", "pastis", "--root", str(tmp_path), "--retries", "0"]) == 2
    assert time.perf_counter() - start < 10
    err = capsys.readouterr().err
    assert err.startswith("sitsbench data: error: could not download")
    assert url in err and f"data root {tmp_path}" in err
    assert not (tmp_path / "pastis" / "PASTIS.zip").exists()


# ---------------------------------------------------------------------------------------------- local copies


def _writable_copy(source: Path, destination: Path) -> Path:
    """Copy the files of ``source`` (read-only in ../shared/data) as ordinary writable files."""
    for path in source.rglob("*"):
        if path.is_file():
            target = destination / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    return destination


def _flip_one_byte(path: Path, offset: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _sha256(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(LOCAL_COPIES))
def test_shared_folders_are_the_published_files(name):
    """Every file of each small-sample manifest is in ../shared/data with the manifest's (published) checksum."""
    folder = _shared(LOCAL_COPIES[name])
    manifest = load_manifest(name)
    checked = verify_local(name, folder)
    assert [item.path for item in checked] == [folder / entry["filename"] for entry in manifest["downloads"]]
    assert all(item.verified and item.source == item.path for item in checked)
    assert [item.checksum for item in checked] == [entry["checksum"] for entry in manifest["downloads"]]
    listed = {entry["filename"] for entry in manifest["downloads"]}
    present = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert present - listed <= {"LICENSE"}, "every data file of the folder is in the manifest"


def test_verify_local_names_the_changed_file(tmp_path):
    copy = _writable_copy(_shared(LOCAL_COPIES["victoria-s2"]), tmp_path / "copy")
    _flip_one_byte(copy / "class_map.txt")
    before = {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    expected = next(e["checksum"] for e in load_manifest("victoria-s2")["downloads"] if e["filename"] == "class_map.txt")
    with pytest.raises(DownloadError) as info:
        verify_local("victoria-s2", copy)
    message = str(info.value)
    assert "class_map.txt: checksum mismatch" in message and "1 file(s)" in message
    assert f"expected {expected}" in message and f"actual {_sha256(copy / 'class_map.txt')}" in message
    assert "train_dataset.csv" not in message
    assert {p: p.read_bytes() for p in copy.rglob("*") if p.is_file()} == before, "verify_local changes nothing"


def test_verify_local_missing_file_and_folder(tmp_path):
    copy = _writable_copy(_shared(LOCAL_COPIES["victoria-s2"]), tmp_path / "copy")
    (copy / "test_dataset.csv").unlink()
    with pytest.raises(DownloadError, match=r"test_dataset\.csv: missing .*actual: no file"):
        verify_local("victoria-s2", copy)
    with pytest.raises(DownloadError, match="is not a folder"):
        verify_local("victoria-s2", tmp_path / "nowhere")


def test_fetch_from_local_copy_copies_then_leaves_files_alone(tmp_path, monkeypatch):
    folder = _shared(LOCAL_COPIES["victoria-s2"])
    manifest = load_manifest("victoria-s2")
    fetched = fetch("victoria-s2", root=tmp_path / "root", source=folder)
    target = tmp_path / "root" / "victoria-s2"
    assert [item.path for item in fetched] == [target / e["filename"] for e in manifest["downloads"]]
    for item, entry in zip(fetched, manifest["downloads"], strict=True):
        assert item.verified and item.checksum == entry["checksum"] and item.url == entry["url"]
        assert item.source == folder / entry["filename"]
        assert item.path.read_bytes() == item.source.read_bytes()
    assert not list(target.rglob("*.part")), "no temporary file is left"
    stats = {item.path: (item.path.stat().st_ino, item.path.stat().st_mtime_ns) for item in fetched}

    def no_copy(*args):
        raise AssertionError("a target that already matches must not be copied again")

    monkeypatch.setattr(fetch_module, "_atomic_copy", no_copy)
    again = fetch("victoria-s2", root=tmp_path / "root", source=folder)
    assert again == fetched
    assert {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in stats} == stats


def test_fetch_from_refuses_a_changed_file_and_keeps_the_target(tmp_path):
    copy = _writable_copy(_shared(LOCAL_COPIES["victoria-s2"]), tmp_path / "copy")
    _flip_one_byte(copy / "class_map.txt")
    target = tmp_path / "root" / "victoria-s2"
    target.mkdir(parents=True)
    (target / "class_map.txt").write_bytes(b"an older, wrong class map\n")
    with pytest.raises(DownloadError) as info:
        fetch("victoria-s2", root=tmp_path / "root", source=copy)
    message = str(info.value)
    assert "class_map.txt: checksum mismatch" in message and "nothing was copied for these files" in message
    assert (target / "class_map.txt").read_bytes() == b"an older, wrong class map\n", "not truncated, not replaced"
    assert (target / "train_dataset.csv").read_bytes() == (copy / "train_dataset.csv").read_bytes()
    assert not list(target.rglob("*.part"))
    (copy / "class_map.txt").write_bytes((SHARED_DATA / LOCAL_COPIES["victoria-s2"] / "class_map.txt").read_bytes())
    fetch("victoria-s2", root=tmp_path / "root", source=copy)
    verify_local("victoria-s2", target)


def test_failed_rename_keeps_the_existing_target(tmp_path, monkeypatch):
    source = tmp_path / "copy"
    source.mkdir()
    (source / "payload.bin").write_bytes(PAYLOAD)
    target = tmp_path / "root" / "tiny" / "payload.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"old")
    manifest = _manifest("https://example.org/payload.bin", "sha256:" + hashlib.sha256(PAYLOAD).hexdigest())

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(fetch_module.os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        fetch("tiny", root=tmp_path / "root", manifest=manifest, source=source)
    assert target.read_bytes() == b"old" and sorted(os.listdir(target.parent)) == ["payload.bin"]


def test_local_copy_md5_unknown_and_env_default(tmp_path, monkeypatch):
    source = tmp_path / "copy"
    source.mkdir()
    (source / "payload.bin").write_bytes(PAYLOAD)
    md5 = _manifest("https://example.org/payload.bin", "md5:" + hashlib.md5(PAYLOAD).hexdigest())
    [item] = fetch("tiny", root=tmp_path / "a", manifest=md5, source=source)
    assert item.verified and item.path.read_bytes() == PAYLOAD
    unknown = _manifest("https://example.org/payload.bin", "unknown")
    with pytest.raises(DownloadError, match=re.escape("no checksum (unknown)")) as info:
        fetch("tiny", root=tmp_path / "b", manifest=unknown, source=source)
    assert hashlib.sha256(PAYLOAD).hexdigest() in str(info.value), "the error gives the sha256 to record"
    assert not (tmp_path / "b" / "tiny" / "payload.bin").exists()
    monkeypatch.setenv(SOURCE_ENV_VAR, str(source))
    assert local_source() == source and local_source(tmp_path) == tmp_path
    [item] = fetch("tiny", root=tmp_path / "c", manifest=md5)
    assert item.source == source / "payload.bin" and item.path.read_bytes() == PAYLOAD


def test_cli_fetch_from_local_copy(tmp_path, capsys):
    folder = _shared(LOCAL_COPIES["victoria-s2"])
    args = ["data", "fetch", "victoria-s2", "--from", str(folder), "--root", str(tmp_path)]
    assert cli.main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"fetching victoria-s2 into {tmp_path / 'victoria-s2'} from the local copy {folder}"
    assert len(out) == 1 + len(load_manifest("victoria-s2")["downloads"])
    assert all(line.endswith("  verified") and line.startswith(str(tmp_path / "victoria-s2")) for line in out[1:])
    verify_local("victoria-s2", tmp_path / "victoria-s2")


def test_cli_fetch_from_bad_copy_fails(tmp_path, capsys):
    copy = _writable_copy(_shared(LOCAL_COPIES["victoria-s2"]), tmp_path / "copy")
    _flip_one_byte(copy / "class_map.txt")
    assert cli.main(["data", "fetch", "victoria-s2", "--from", str(copy), "--root", str(tmp_path / "root")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sitsbench data: error: local copy") and "class_map.txt: checksum mismatch" in err
    assert not (tmp_path / "root" / "victoria-s2" / "class_map.txt").exists()
