"""Dataset manifests: every file follows the schema, bad manifests are rejected naming the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml
from dataset_fixtures import write_pastis

from sitsbench import cli
from sitsbench.data.loading import READERS, detect_layout
from sitsbench.data.manifests import (
    ANNOTATION_LIST,
    ANNOTATIONS,
    MANIFEST_DIR,
    TASKS,
    ManifestError,
    annotation_groups,
    annotation_heading,
    datasets_page,
    load_manifest,
    load_manifest_file,
    load_manifests,
    manifest_paths,
    summary_rows,
    text_table,
    validate_manifest,
)

# The datasets of the public list "Satellite Image Time Series Datasets", by section, as read in
# https://github.com/corentin-dfg/Satellite-Image-Time-Series-Datasets/blob/a9bd681c239784bf3f6ae75b7fcca96f49fee186/README.md
# (commit a9bd681c239784bf3f6ae75b7fcca96f49fee186, 2025-09-06): every dataset of its "Semantic and Instance
# Segmentation" subsections (49; MTLCC is listed twice, under pixel annotations for each time series and polygon
# annotations for each image, and kept under the first) and the two pre-training sets of its "Other tasks" table
# that the first manifests covered (SSL4EO-S12, Seasonal Contrast; SSL4EO-S12 v1.1 and SSL4EO-L are not covered).
# Keys: the list's section (lower case) and the dataset name as the list spells it; values: our manifest.
# The list's commit 0384851 (2023-10-24), which the first manifests followed, had one "Image annotations" section
# (now image-level and datacube-level) and AI4EO Enhanced Sentinel 2 Agriculture, removed in bb9dbb6: its manifest
# keeps the section it had there (REMOVED_FROM_LIST).
SITS_LIST_DATASETS = {
    "pixel annotations for each image": {
        "TS-SatFire": "ts-satfire",
        "MultiEarth 2023": "multiearth-2023",
        "MultiEarth 2022": "multiearth-2022",
        "Dynamic World": "dynamic-world",
        "DynamicEarthNet": "dynamicearthnet",
        "SpaceNet 7": "spacenet-7",
    },
    "pixel annotations for each time series": {
        "FLAIR-HUB": "flair-hub",
        "ForTy": "forty",
        "CONUS": "conus",
        "FUSU": "fusu",
        "CropRot": "croprot",
        "PASTIS-HD": "pastis-hd",
        "MultiSenNA": "multisenna",
        "DAFA-LS": "dafa-ls",
        "BraDD-S1TS": "bradd-s1ts",
        "FLAIR #2": "flair-2",
        "MultiSenGE": "multisenge",
        "PASTIS-R": "pastis-r",
        "PASTIS": "pastis",
        "UTRNet": "utrnet",
        "MTLCC": "mtlcc",
        "TiSeLaC": "tiselac",
    },
    "polygon annotations for each image": {
        "Sen4AgriNet": "sen4agrinet",
        "Deep Crop Rotation": "deep-crop-rotation",
        "Campo Verde": "campo-verde",
        "LEM": "lem",
    },
    "polygon annotations for each time series": {
        "SICKLE": "sickle",
        "AgriSen-COG": "agrisen-cog",
        "TimeMatch": "timematch",
        "DENETHOR": "denethor",
        "EuroCrops": "eurocrops",
        "TimeSen2Crop": "timesen2crop",
        "Canadian Cropland": "canadian-cropland",
        "ZueriCrop": "zuericrop",
        "Crop type in Western Cap": "crop-type-western-cape",
        "Spot the crop challenge": "spot-the-crop",
        "BreizhCrops": "breizhcrops",
        "Crop type in Ghana": "crop-type-ghana",
        "Crop type on South Soudan": "crop-type-south-sudan",
        "CV4A Kenya": "cv4a-kenya",
        "Pixel-Set dataset": "s2agri-pixelset",
    },
    "image-level annotations": {
        "fMoW-Sentinel": "fmow-sentinel",
        "SEN12-FLOOD": "sen12-flood",
        "fMoW-RGB": "fmow-rgb",
    },
    "datacube-level annotations": {
        "OPTIMUS": "optimus",
        "Sen4Map": "sen4map",
        "Planted": "planted",
        "TreeSatAI-Time-Series": "treesatai-time-series",
        "RapidAI4EO Corpus": "rapidai4eo",
    },
    "pre-training task": {
        "SSL4EO-S12": "ssl4eo-s12",
        "Seasonal Contrast": "seco",
    },
}
REMOVED_FROM_LIST = {"ai4eo-enhanced-s2-agriculture": "pixel annotations for each time series"}
SITS_LIST_MANIFESTS = {name for section in SITS_LIST_DATASETS.values() for name in section.values()}

REQUIRED_DATASETS = SITS_LIST_MANIFESTS | set(REMOVED_FROM_LIST) | {
    "eurocropsml",
    # small real samples (local copies in ../shared/data, verified by tests/test_fetch.py)
    "victoria-s2", "eolearn-slovenia", "sits-sinop-modis", "sits-samples",
}


@pytest.mark.parametrize("path", manifest_paths(), ids=lambda p: p.stem)
def test_every_manifest_validates(path):
    manifest = load_manifest_file(path)
    assert manifest["name"] == path.stem
    assert set(manifest["tasks"]) <= set(TASKS)
    assert manifest["reader"] == "none" or manifest["reader"] in READERS


SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.mark.parametrize("name, folder", [("victoria-s2", "igarss2019_victoria_s2"),
                                          ("eolearn-slovenia", "eolearn_slovenia_s2"),
                                          ("sits-sinop-modis", "sits_sinop_modis"), ("sits-samples", "sits_samples"),
                                          ("pastis", None), ("pastis-r", None)])
def test_manifest_reader_is_the_layout_load_dataset_detects(name, folder, tmp_path):
    """A manifest's ``reader`` names the entry of the readers registry that recognises the published files:
    the folder, or each downloaded file when the layout is one of files (a ``sits`` tibble); PASTIS and
    PASTIS-R are checked on a fixture in the published layout (PASTIS-R: with its Sentinel-1 orbit)."""
    reader = load_manifest(name)["reader"]
    if folder is None:
        write_pastis(tmp_path / "patches", n_patches=2, with_s1=name == "pastis-r")
        targets = [tmp_path / "patches"]
    else:
        root = SHARED_DATA / folder
        if not root.is_dir():
            pytest.skip(f"{root} absent")
        files = [root / entry["filename"] for entry in load_manifest(name)["downloads"]]
        targets = [root] if READERS[reader].detect(root) else files
    assert [detect_layout(target) for target in targets] == [reader] * len(targets)


def test_all_required_datasets_have_a_manifest():
    assert REQUIRED_DATASETS <= set(load_manifests())


def test_manifests_cover_the_sits_datasets_list():
    """Each dataset of the list's annotated sections and its two pre-training sets has a manifest; where the
    manifest records ``annotation``, it is the list's section."""
    assert ANNOTATION_LIST["commit"] == "a9bd681c239784bf3f6ae75b7fcca96f49fee186"
    assert sum(len(section) for name, section in SITS_LIST_DATASETS.items() if name != "pre-training task") == 49
    assert set(SITS_LIST_DATASETS) == set(ANNOTATIONS)
    manifests = load_manifests()
    missing = {listed: name for section in SITS_LIST_DATASETS.values()
               for listed, name in section.items() if name not in manifests}
    assert not missing, f"datasets of the SITS list without a manifest: {missing}"
    for section, datasets in SITS_LIST_DATASETS.items():
        for listed, name in datasets.items():
            assert manifests[name]["annotation"] == section, (listed, name)
    for name, section in REMOVED_FROM_LIST.items():
        assert manifests[name]["annotation"] == section
    assert set(load_manifest("seco")["tasks"]) == set(load_manifest("ssl4eo-s12")["tasks"]) == {"pretraining"}


def test_published_facts_of_pastis_and_breizhcrops():
    pastis = load_manifest("pastis")
    assert pastis["classes"]["count"] == 20 and pastis["classes"]["names"][19] == "Void label"
    assert len(pastis["bands"]) == 10 and "Fold" in pastis["splits"]
    breizh = load_manifest("breizhcrops")
    assert breizh["classes"]["count"] == len(breizh["classes"]["names"]) == 9
    assert "frh04" in breizh["splits"]


def test_published_facts_filled_from_their_sources():
    """Facts of issue 36 item 4, each with the source it was read from (the manifest's ``sources``)."""
    manifests = load_manifests()
    eurocrops = manifests["eurocrops"]
    assert eurocrops["license"] == "CC BY-SA 4.0" and "b4331ad" in eurocrops["sources"]["license"]
    sen4agrinet = manifests["sen4agrinet"]
    assert sen4agrinet["license"] == "CC BY-SA 4.0" and "utils/config.py" in sen4agrinet["sources"]["license"]
    assert sen4agrinet["classes"]["names"][110] == "Wheat"  # keyed by the crop codes of the label files
    dois = {"pastis": "10.1109/ICCV48922.2021.00483", "pastis-r": "10.1016/j.isprsjprs.2022.03.012",
            "breizhcrops": "10.5194/isprs-archives-XLIII-B2-2020-1545-2020", "eurocropsml": "10.1038/s41597-025-04952-7",
            "timesen2crop": "10.1109/JSTARS.2021.3073965", "sen4agrinet": "10.1109/JSTARS.2022.3164771"}
    for name, doi in dois.items():
        assert f"doi = {{{doi}}}" in manifests[name]["citation"], name
        assert "citation" in manifests[name]["sources"], name
    assert "Scientific Data" in manifests["eurocropsml"]["citation"]
    timesen2crop = manifests["timesen2crop"]
    assert timesen2crop["downloads"] == [{"url": "https://zenodo.org/records/4715631/files/TimeSen2Crop.zip",
                                          "filename": "TimeSen2Crop.zip",
                                          "checksum": "md5:b5b7aad3fef192e78252e11c9a0e5cb8"}]
    expected_names = {"denethor": (9, "Wheat", "Forage Crops"), "timesen2crop": (16, "Legumes", "Other crops"),
                      "crop-type-ghana": (4, "groundnut", "soya bean"), "crop-type-south-sudan": (4, "sorghum", "groundnut"),
                      "mtlcc": (17, "sugar beet", "maize"), "dynamicearthnet": (7, "impervious surface", "snow & ice"),
                      "zuericrop": (48, "Apples", "WinterWheat"), "sen4agrinet": (168, "Cereals", "Unknown crops")}
    for name, (count, first, last) in expected_names.items():
        classes = manifests[name]["classes"]
        assert classes["count"] == len(classes["names"]) == count, name
        names = [classes["names"][i] for i in sorted(classes["names"])]
        assert (names[0], names[-1]) == (first, last), name
        assert "classes" in manifests[name]["sources"], name
    listed = {name for section in SITS_LIST_DATASETS.values() for name in section.values()}
    assert not [name for name in sorted(listed) if "annotation" not in manifests[name]]


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
        (lambda m: m.update(reader="sitsbench.data.readers.pastis"), "reader", "a layout of sitsbench.data.loading.READERS"),
        (lambda m: m.update(annotation="semantic segmentation"), "annotation", "the list's sections"),
        (lambda m: m.update(annotation=["image-level annotations"]), "annotation", "must be one of"),
    ],
)
def test_bad_manifests_name_the_field(good, change, field, expected):
    change(good)
    with pytest.raises(ManifestError, match=rf"bad\.yaml: field '{field}'.*") as info:
        validate_manifest(good, "bad.yaml")
    assert expected in str(info.value)


def test_annotation_is_optional_and_checked(good):
    del good["annotation"]
    validate_manifest(good, "ok.yaml")
    for value in ANNOTATIONS:
        validate_manifest({**good, "annotation": value}, "ok.yaml")
    for stale in ("Image-level annotations", "image annotations"):  # capitalised; the section of the old list
        with pytest.raises(ManifestError, match=rf"bad\.yaml: field 'annotation' must be one of .*'{stale}'"):
            validate_manifest({**good, "annotation": stale}, "bad.yaml")


def test_sources_name_fields_and_note_every_unknown(good):
    """``sources`` maps manifest fields to notes; every field left ``unknown`` needs one (what was checked)."""
    good["sources"] = {"license": "the Zenodo record's licence field", "classes": "the README's class table"}
    validate_manifest(good, "ok.yaml")
    good["downloads"][0]["checksum"] = "unknown"
    with pytest.raises(ManifestError, match=r"bad\.yaml: field 'sources' has no note for the field\(s\) \['downloads'\]"):
        validate_manifest(good, "bad.yaml")
    good["sources"]["downloads"] = "no checksum published on the Zenodo record"
    validate_manifest(good, "ok.yaml")
    good["size_on_disk"] = "unknown"
    good["classes"] = {"count": 3, "names": "unknown"}
    good["sources"].pop("classes")
    with pytest.raises(ManifestError, match=r"no note for the field\(s\) \['size_on_disk', 'classes'\] left 'unknown'"):
        validate_manifest(good, "bad.yaml")
    without = {key: value for key, value in good.items() if key != "sources"}
    with pytest.raises(ManifestError, match=r"bad\.yaml: field 'sources' is missing: the field\(s\) "
                                            r"\['size_on_disk', 'classes', 'downloads'\] are 'unknown'"):
        validate_manifest(without, "bad.yaml")
    for sources, expected in [({"licence": "x"}, "names 'licence', which is not a manifest field"),
                              ({"license": ""}, "note for 'license' must be a non-empty string"),
                              ({"license": ["a"]}, "note for 'license' must be a non-empty string"),
                              ("the README", "has type str, expected dict")]:
        with pytest.raises(ManifestError, match=r"bad\.yaml: field 'sources'") as info:
            validate_manifest({**good, "sources": sources}, "bad.yaml")
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
    assert page.index("## Datasets by annotation type") < page.index("## Fetching a dataset")
    assert page.index("## Fetching a dataset") < page.index("## Dataset details")


def _page_groups(page: str) -> dict[str, list[list[str]]]:
    """The tables of the page's "Datasets by annotation type" section: heading -> rows (cells) of its table."""
    section = page.split("## Datasets by annotation type")[1].split("\n## ")[0]
    groups: dict[str, list[list[str]]] = {}
    heading = None
    for line in section.splitlines():
        if line.startswith("### "):
            heading = line[4:]
            groups[heading] = []
        elif line.startswith("| ") and heading is not None:
            groups[heading].append([cell.strip() for cell in line.strip("|").split(" | ")])
    return groups


def test_datasets_page_groups_by_annotation_and_marks_readers():
    manifests = load_manifests()
    groups = _page_groups(datasets_page())
    expected = annotation_groups(manifests)
    assert list(groups) == list(expected)
    listed = [heading for heading in ANNOTATIONS.values() if heading in groups]
    assert list(groups)[: len(listed)] == listed  # the list's sections first, in its order
    assert set(ANNOTATIONS.values()) <= set(groups)  # every section of the list has datasets
    for heading, rows in groups.items():
        header, *body = rows
        assert header[0] == "name" and header[-1] == "reader"
        names = [row[0] for row in body]
        assert names == sorted(expected[heading])
        for row in body:
            manifest = manifests[row[0]]
            assert annotation_heading(manifest) == heading
            assert row[-1] == ("no" if manifest["reader"] == "none" else "yes")
    assert sum(len(rows) - 1 for rows in groups.values()) == len(manifests)
    assert ANNOTATION_LIST["commit"][:12] in datasets_page()


def test_page_heading_without_annotation_comes_from_tasks(tmp_path, good):
    del good["annotation"]
    for name, extra in [("a", {"annotation": "image-level annotations"}), ("b", {}), ("c", {"reader": "none"})]:
        manifest = {**good, "name": name, "title": name.upper(), **extra}
        if name == "c":
            manifest["tasks"] = ["change detection", "segmentation"]
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(manifest))
    groups = _page_groups(datasets_page(tmp_path))
    assert list(groups) == [
        ANNOTATIONS["image-level annotations"],
        "Annotation type not recorded: segmentation",
        "Annotation type not recorded: segmentation, change detection",
    ]
    assert [row[0] for row in groups[ANNOTATIONS["image-level annotations"]][1:]] == ["a"]
    assert groups["Annotation type not recorded: segmentation"][1][-1] == "yes"
    assert groups["Annotation type not recorded: segmentation, change detection"][1][-1] == "no"


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
    header, _, *lines = out.splitlines()
    assert header.split()[-1] == "reader"
    assert {line.split()[0]: line.split()[-1] for line in lines}["pastis"] == "yes"
    assert {line.split()[0]: line.split()[-1] for line in lines}["seco"] == "no"
    assert cli.main(["data", "info", "breizhcrops"]) == 0
    info = yaml.safe_load(capsys.readouterr().out)
    assert info == load_manifest("breizhcrops")
    assert cli.main(["data", "info", "nope"]) == 2
    assert "no dataset manifest 'nope'" in capsys.readouterr().err


def test_manifest_dir_is_in_the_repository():
    assert MANIFEST_DIR.name == "data_manifests" and len(manifest_paths()) >= 57
