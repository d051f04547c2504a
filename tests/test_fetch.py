"""Downloads: data root, checksum verification, per-file resume and clear errors (loopback server only)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
import time

import pytest

from sitsbench import cli
from sitsbench.data import fetch as fetch_module
from sitsbench.data.fetch import DEFAULT_ROOT, ENV_VAR, DownloadError, data_root, fetch
from sitsbench.data.manifests import load_manifest

PAYLOAD = b"sitsbench test payload\n" * 100


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
    with pytest.raises(DownloadError, match="no direct download URL; get it from https://zenodo.org/records/4715631"):
        fetch("timesen2crop", root=tmp_path)


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
