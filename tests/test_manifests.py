"""Dataset manifests: every file follows the schema, bad manifests are rejected naming the field."""

from __future__ import annotations

import copy
import importlib

import pytest
import yaml

from sitsbench import cli
from sitsbench.data.manifests import (
    MANIFEST_DIR,
    TASKS,
    ManifestError,
    datasets_page,
    load_manifest,
    load_manifest_file,
    load_manifests,
    manifest_paths,
    summary_rows,
    text_table,
    validate_manifest,
)

REQUIRED_DATASETS = {
    "pastis", "pastis-r", "breizhcrops", "timesen2crop", "s2agri-pixelset", "sen4agrinet", "denethor", "mtlcc",
    "eurocropsml", "tiselac", "dynamicearthnet", "ssl4eo-s12",
    # small real samples (local copies in ../shared/data, verified by tests/test_fetch.py)
    "victoria-s2", "eolearn-slovenia", "sits-sinop-modis", "sits-samples",
}


@pytest.mark.parametrize("path", manifest_paths(), ids=lambda p: p.stem)
def test_every_manifest_validates(path):
    manifest = load_manifest_file(path)
    assert manifest["name"] == path.stem
    assert set(manifest["tasks"]) <= set(TASKS)
    if manifest["reader"] != "none":
        importlib.import_module(manifest["reader"])


def test_all_required_datasets_have_a_manifest():
    assert REQUIRED_DATASETS <= set(load_manifests())


def test_published_facts_of_pastis_and_breizhcrops():
    pastis = load_manifest("pastis")
    assert pastis["classes"]["count"] == 20 and pastis["classes"]["names"][19] == "Void label"
    assert len(pastis["bands"]) == 10 and "Fold" in pastis["splits"]
    breizh = load_manifest("breizhcrops")
    assert breizh["classes"]["count"] == len(breizh["classes"]["names"]) == 9
    assert "frh04" in breizh["splits"]


@pytest.fixture
def good():
    return copy.deepcopy(load_manifest("pastis"))


@pytest.mark.parametrize(
    ("change", "field", "expected"),
    [
        (lambda m: m.pop("license"), "license", "is missing"),
        (lambda m: m.update(tasks=["regression"]), "tasks", "non-empty list"),
        (lambda m: m.update(n_dates=[1, 2]), "n_dates", "expected int or str"),
        (lambda m: m.update(homepage="zenodo.org/record/1"), "homepage", "http(s) URL"),
        (lambda m: m["downloads"][0].update(url="not a url"), "downloads", "not an http(s)/ftp URL"),
        (lambda m: m["downloads"][0].update(checksum="sha256:abc"), "downloads", "sha256:<64 hex>"),
        (lambda m: m["downloads"][0].update(checksum="crc32:0a0b0c0d"), "downloads", "sha256:<64 hex>"),
        (lambda m: m["downloads"][0].update(filename="../escape.zip"), "downloads", "relative path"),
        (lambda m: m["downloads"][0].update(filename="/abs.zip"), "downloads", "relative path"),
        (lambda m: m.update(classes={"count": -1, "names": "unknown"}), "classes", "non-negative"),
        (lambda m: m.update(classes={"count": 2, "names": {"a": "b"}}), "classes", "integer ids"),
        (lambda m: m.update(citation="Garnot 2021"), "citation", "BibTeX"),
        (lambda m: m.update(reader="os.path"), "reader", "sitsbench.data.readers"),
    ],
)
def test_bad_manifests_name_the_field(good, change, field, expected):
    change(good)
    with pytest.raises(ManifestError, match=rf"bad\.yaml: field '{field}'.*") as info:
        validate_manifest(good, "bad.yaml")
    assert expected in str(info.value)


def test_valid_checksum_forms_and_unknown_field(good):
    good["downloads"][0]["checksum"] = "md5:" + "0" * 32
    validate_manifest(good, "ok.yaml")
    good["downloads"][0]["checksum"] = "sha256:" + "ab" * 32
    validate_manifest(good, "ok.yaml")
    good["extra"] = 1
    with pytest.raises(ManifestError, match="unknown field"):
        validate_manifest(good, "bad.yaml")


def test_file_name_must_match_name(tmp_path, good):
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(good))
    with pytest.raises(ManifestError, match="other.yaml: field 'name' is 'pastis'"):
        load_manifest_file(path)
    (tmp_path / "broken.yaml").write_text("name: [unclosed")
    with pytest.raises(ManifestError, match="broken.yaml: invalid YAML"):
        load_manifest_file(tmp_path / "broken.yaml")


def test_unknown_dataset_lists_known_ones():
    with pytest.raises(KeyError, match="no dataset manifest 'nope'.*pastis"):
        load_manifest("nope")


def test_datasets_page_contains_every_manifest():
    page = datasets_page()
    manifests = load_manifests()
    assert page.startswith("# Datasets\n")
    table_rows = [line for line in page.splitlines() if line.startswith("| ") and not line.startswith("| name")]
    assert len(table_rows) == len(manifests)
    for name, manifest in manifests.items():
        assert f"| {name} |" in page
        assert f"### {manifest['title']} (`{name}`)" in page
    assert "sitsbench data fetch pastis" in page and 'fetch("pastis"' in page and "SITSBENCH_DATA" in page


def test_text_table_cuts_long_cells():
    rows = summary_rows(load_manifests())
    table = text_table(rows, max_width=20).splitlines()
    assert len(table) == len(rows) + 2
    n_columns = len(rows[0])
    assert max(map(len, table)) <= 20 * n_columns + 2 * (n_columns - 1)
    assert "..." in "".join(table[2:])


def test_cli_data_list_and_info(capsys):
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in load_manifests())
    assert cli.main(["data", "info", "breizhcrops"]) == 0
    info = yaml.safe_load(capsys.readouterr().out)
    assert info == load_manifest("breizhcrops")
    assert cli.main(["data", "info", "nope"]) == 2
    assert "no dataset manifest 'nope'" in capsys.readouterr().err


def test_manifest_dir_is_in_the_repository():
    assert MANIFEST_DIR.name == "data_manifests" and len(manifest_paths()) >= 11
