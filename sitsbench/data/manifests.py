"""Dataset manifests (``data_manifests/*.yaml``): schema check, loading and the book's datasets page.

One YAML file per dataset records what the literature and the dataset's own pages say about it: tasks,
sensors, bands, dates, classes, resolution, size, format, download URLs with checksums, licence, BibTeX
citation and the split protocol. A value that could not be checked is the string ``unknown``.

The optional field ``annotation`` places a dataset in one of the sections of the public list of
satellite image time series datasets (:data:`ANNOTATION_LIST`): the book's datasets page groups the
datasets by it, as the list does; a manifest without it goes under a heading made from its ``tasks``.

The optional field ``sources`` says where the facts come from: it maps a field name to a note naming the
page, file or paper that gave the field's value, or, for a field left ``unknown``, what was checked and
found silent: every field still ``unknown`` (see :func:`unknown_fields`) must have such a note.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import yaml

MANIFEST_DIR = Path(__file__).resolve().parent.parent / "data_manifests"
"""The manifests: ``data_manifests/`` at the top of the repository, shipped in the package as package data
(``sitsbench/data_manifests`` links to it in the source tree and is a copy in a wheel), so that they are found
from an installed package as well as from a checkout."""

UNKNOWN = "unknown"
TASKS = ("classification", "segmentation", "change detection", "pretraining")
REQUIRED_FIELDS = {
    "name": str,
    "title": str,
    "description": str,
    "tasks": list,
    "sensors": list,
    "bands": (list, str),
    "n_dates": (int, str),
    "classes": dict,
    "spatial_resolution": str,
    "size_on_disk": str,
    "file_format": str,
    "homepage": str,
    "downloads": list,
    "license": str,
    "citation": str,
    "splits": str,
    "reader": str,
}
OPTIONAL_FIELDS = {"annotation": str, "sources": dict}
ANNOTATION_LIST = {
    "repository": "corentin-dfg/Satellite-Image-Time-Series-Datasets",
    "commit": "a9bd681c239784bf3f6ae75b7fcca96f49fee186",
    "url": "https://github.com/corentin-dfg/Satellite-Image-Time-Series-Datasets/blob/"
    "a9bd681c239784bf3f6ae75b7fcca96f49fee186/README.md",
}
"""The list whose sections ``annotation`` names (README.md at that commit, 6 Sep 2025; the first manifests
followed commit 0384851 of 24 Oct 2023, whose single "Image annotations" section the list has since split into
image-level and datacube-level annotations)."""
ANNOTATIONS = {
    "pixel annotations for each image": "Semantic and instance segmentation: pixel annotations for each image",
    "pixel annotations for each time series": "Semantic and instance segmentation: pixel annotations for each time series",
    "polygon annotations for each image": "Semantic and instance segmentation: polygon annotations for each image",
    "polygon annotations for each time series": "Semantic and instance segmentation: polygon annotations for each time series",
    "image-level annotations": "Semantic and instance segmentation: image-level annotations",
    "datacube-level annotations": "Semantic and instance segmentation: datacube-level annotations",
    "pre-training task": "Other tasks: pre-training task (unlabelled)",
}
"""Allowed ``annotation`` values (the list's section headings, lower case, in the list's order; the last is the
task column of its "Other tasks" table) and the heading each gets on the datasets page."""
DOWNLOAD_FIELDS = ("url", "filename", "checksum")
CHECKSUM = re.compile(r"^(sha256:[0-9a-f]{64}|md5:[0-9a-f]{32}|unknown)$")
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
URL_SCHEMES = ("http", "https", "ftp")


class ManifestError(ValueError):
    """A manifest does not follow the schema (the message names the file and the field)."""


def _is_url(text: str) -> bool:
    parts = urlparse(text)
    return parts.scheme in URL_SCHEMES and bool(parts.netloc) and " " not in text


def _is_relative_path(text: Any) -> bool:
    """A file name or ``a/b/name`` path that stays inside the dataset folder (the readers' layout)."""
    if not isinstance(text, str) or not text or text.startswith("/") or "\\" in text:
        return False
    return all(part not in ("", ".", "..") for part in text.split("/"))


def validate_manifest(data: Any, source: str = "manifest") -> dict:
    """Check one manifest and return it; :class:`ManifestError` names ``source`` and the bad field."""

    def fail(field: str, message: str) -> None:
        raise ManifestError(f"{source}: field {field!r} {message}")

    if not isinstance(data, dict):
        raise ManifestError(f"{source}: expected a mapping of fields, got {type(data).__name__}")
    for field, kind in REQUIRED_FIELDS.items():
        if field not in data:
            fail(field, "is missing")
        if not isinstance(data[field], kind) or isinstance(data[field], bool):
            expected = " or ".join(k.__name__ for k in (kind if isinstance(kind, tuple) else (kind,)))
            fail(field, f"has type {type(data[field]).__name__}, expected {expected}")
    allowed = {**REQUIRED_FIELDS, **OPTIONAL_FIELDS}
    extra = sorted(set(data) - set(allowed))
    if extra:
        raise ManifestError(f"{source}: unknown field(s) {extra} (allowed: {sorted(allowed)})")
    if "annotation" in data and (not isinstance(data["annotation"], str) or data["annotation"] not in ANNOTATIONS):
        fail("annotation", f"must be one of {list(ANNOTATIONS)} (the list's sections), got {data['annotation']!r}")
    if not NAME.match(data["name"]):
        fail("name", f"must be a lowercase identifier, got {data['name']!r}")
    if not data["tasks"] or any(task not in TASKS for task in data["tasks"]):
        fail("tasks", f"must be a non-empty list of {list(TASKS)}, got {data['tasks']}")
    for field in ("sensors", "bands"):
        value = data[field]
        if isinstance(value, str) and value != UNKNOWN:
            fail(field, f"must be a list of strings or {UNKNOWN!r}")
        if isinstance(value, list) and (not value or not all(isinstance(v, str) for v in value)):
            fail(field, "must be a non-empty list of strings")
    if isinstance(data["n_dates"], int) and data["n_dates"] <= 0:
        fail("n_dates", "must be positive")
    _validate_classes(data["classes"], fail)
    if not _is_url(data["homepage"]):
        fail("homepage", f"must be an http(s) URL, got {data['homepage']!r}")
    for i, entry in enumerate(data["downloads"]):
        if not isinstance(entry, dict) or sorted(entry) != sorted(DOWNLOAD_FIELDS):
            fail("downloads", f"entry {i} must have exactly the keys {list(DOWNLOAD_FIELDS)}")
        if not _is_url(str(entry["url"])):
            fail("downloads", f"entry {i} url {entry['url']!r} is not an http(s)/ftp URL")
        if not _is_relative_path(entry["filename"]):
            fail("downloads", f"entry {i} filename must be a relative path inside the dataset folder")
        if not CHECKSUM.match(str(entry["checksum"])):
            fail("downloads", f"entry {i} checksum {entry['checksum']!r} must be sha256:<64 hex>, md5:<32 hex> or unknown")
    if not data["citation"].lstrip().startswith("@"):
        fail("citation", "must be a BibTeX entry starting with '@'")
    if data["reader"] != "none":
        from sitsbench.data.loading import READERS

        if data["reader"] not in READERS:
            fail("reader", f"{data['reader']!r} must be 'none' or a layout of sitsbench.data.loading.READERS "
                 f"({', '.join(READERS)})")
    _validate_sources(data, fail)
    return data


def unknown_fields(data: dict) -> list[str]:
    """The fields whose value is ``unknown``: a whole field, ``classes``'s count or names, or a download's
    checksum (then ``downloads``)."""
    fields = [field for field in REQUIRED_FIELDS if data.get(field) == UNKNOWN]
    classes = data.get("classes")
    if isinstance(classes, dict) and UNKNOWN in (classes.get("count"), classes.get("names")):
        fields.append("classes")
    downloads = data.get("downloads")
    if isinstance(downloads, list) and any(isinstance(d, dict) and d.get("checksum") == UNKNOWN for d in downloads):
        fields.append("downloads")
    return fields


def _validate_sources(data: dict, fail) -> None:
    """``sources``: field name -> non-empty note; every field left ``unknown`` has a note of what was checked."""
    if "sources" not in data:
        silent = unknown_fields(data)
        if silent:
            fail("sources", f"is missing: the field(s) {silent} are {UNKNOWN!r}; note for each what was checked")
        return
    sources = data["sources"]
    if not isinstance(sources, dict):
        fail("sources", f"has type {type(sources).__name__}, expected dict (field name -> note)")
    allowed = [field for field in {**REQUIRED_FIELDS, **OPTIONAL_FIELDS} if field != "sources"]
    for field, note in sources.items():
        if field not in allowed:
            fail("sources", f"names {field!r}, which is not a manifest field (expected one of {allowed})")
        if not isinstance(note, str) or not note.strip():
            fail("sources", f"note for {field!r} must be a non-empty string saying where the value comes from")
    silent = [field for field in unknown_fields(data) if field not in sources]
    if silent:
        fail("sources", f"has no note for the field(s) {silent} left {UNKNOWN!r}: say what was checked")


def _validate_classes(classes: dict, fail) -> None:
    if sorted(classes) != ["count", "names"]:
        fail("classes", "must have exactly the keys 'count' and 'names'")
    count, names = classes["count"], classes["names"]
    if not (count == UNKNOWN or (isinstance(count, int) and not isinstance(count, bool) and count >= 0)):
        fail("classes", f"count must be a non-negative integer or {UNKNOWN!r}, got {count!r}")
    if names == UNKNOWN:
        return
    if not isinstance(names, dict) or not all(isinstance(k, int) and isinstance(v, str) for k, v in names.items()):
        fail("classes", f"names must map integer ids to names, or be {UNKNOWN!r}")


def manifest_paths(directory: str | Path = MANIFEST_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.yaml"))


def load_manifest_file(path: str | Path) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ManifestError(f"{path}: invalid YAML: {error}") from error
    data = validate_manifest(data, str(path))
    if data["name"] != path.stem:
        raise ManifestError(f"{path}: field 'name' is {data['name']!r} but the file is named {path.stem!r}")
    return data


def load_manifests(directory: str | Path = MANIFEST_DIR) -> dict[str, dict]:
    """All manifests by name, each validated."""
    return {path.stem: load_manifest_file(path) for path in manifest_paths(directory)}


def load_manifest(name: str, directory: str | Path = MANIFEST_DIR) -> dict:
    path = Path(directory) / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(p.stem for p in manifest_paths(directory))
        raise KeyError(f"no dataset manifest {name!r} in {directory} (known: {known})")
    return load_manifest_file(path)


def summary_rows(manifests: dict[str, dict]) -> list[dict[str, str]]:
    """One row of short strings per dataset (the table of ``sitsbench data list`` and of the book)."""
    rows = []
    for name, m in sorted(manifests.items()):
        rows.append({
            "name": name,
            "title": m["title"],
            "tasks": ", ".join(m["tasks"]),
            "sensors": ", ".join(m["sensors"]),
            "dates": str(m["n_dates"]),
            "classes": str(m["classes"]["count"]),
            "resolution": m["spatial_resolution"],
            "size": m["size_on_disk"],
            "license": m["license"],
            "reader": "yes" if has_reader(m) else "no",
        })
    return rows


def has_reader(manifest: dict) -> bool:
    """Whether sitsbench reads this dataset (its ``reader`` is a layout of ``load_dataset``, not ``none``)."""
    return manifest["reader"] != "none"


def annotation_heading(manifest: dict) -> str:
    """The datasets page heading of a manifest: its ``annotation`` section, else one made from its ``tasks``."""
    if "annotation" in manifest:
        return ANNOTATIONS[manifest["annotation"]]
    tasks = [task for task in TASKS if task in manifest["tasks"]]
    return f"Annotation type not recorded: {', '.join(tasks)}"


def annotation_groups(manifests: dict[str, dict]) -> dict[str, dict[str, dict]]:
    """Manifests by page heading: the list's sections in its order, then the headings made from ``tasks``."""
    order = {heading: i for i, heading in enumerate(ANNOTATIONS.values())}
    groups: dict[str, dict[str, dict]] = {}
    for name, manifest in sorted(manifests.items()):
        groups.setdefault(annotation_heading(manifest), {})[name] = manifest
    return dict(sorted(groups.items(), key=lambda item: (order.get(item[0], len(order)), item[0])))


def text_table(rows: list[dict[str, str]], max_width: int = 30) -> str:
    """Rows as a fixed-width plain-text table; longer cells are cut to ``max_width`` characters with ``...``."""
    if not rows:
        return "(no dataset manifests)"
    rows = [{k: v if len(v) <= max_width else v[: max_width - 3] + "..." for k, v in row.items()} for row in rows]
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(r[k]) for r in rows)) for k in keys}
    lines = ["  ".join(k.ljust(widths[k]) for k in keys).rstrip()]
    lines.append("  ".join("-" * widths[k] for k in keys))
    lines += ["  ".join(r[k].ljust(widths[k]) for k in keys).rstrip() for r in rows]
    return "\n".join(lines)


def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def datasets_page(directory: str | Path = MANIFEST_DIR) -> str:
    """The book page ``datasets.md`` (MyST markdown), generated from the manifests."""
    manifests = load_manifests(directory)
    tables = []
    for heading, group in annotation_groups(manifests).items():
        rows = summary_rows(group)
        keys = list(rows[0])
        tables += [f"### {heading}", ""]
        tables += ["| " + " | ".join(keys) + " |", "|" + "|".join("---" for _ in keys) + "|"]
        tables += ["| " + " | ".join(_markdown_cell(r[k]) for k in keys) + " |" for r in rows]
        tables.append("")
    n_readers = sum(has_reader(m) for m in manifests.values())
    details = []
    for name, m in sorted(manifests.items()):
        urls = ", ".join(f"<{d['url']}>" for d in m["downloads"]) or "no direct download (see the homepage)"
        details += [
            f"### {m['title']} (`{name}`)",
            "",
            m["description"].strip(),
            "",
            f"- **Split protocol:** {m['splits'].strip()}",
            f"- **Annotation:** {m.get('annotation', 'not recorded')}",
            f"- **Format:** {m['file_format']}; **reader:** `{m['reader']}`",
            f"- **Homepage:** <{m['homepage']}>; **download:** {urls}",
            *(f"- **Source of `{field}`:** {_markdown_cell(note)}" for field, note in m.get("sources", {}).items()),
            "",
        ]
    return "\n".join([
        "# Datasets",
        "",
        "Published satellite image time series datasets for self-supervised learning and their evaluation. "
        "Every row comes from a manifest in `data_manifests/` (checked by `sitsbench.data.manifests`); "
        "a value marked `unknown` could not be verified from the dataset's own pages.",
        "",
        "## Datasets by annotation type",
        "",
        f"Grouped as in the list [Satellite Image Time Series Datasets]({ANNOTATION_LIST['url']}) "
        f"(`{ANNOTATION_LIST['repository']}` at commit `{ANNOTATION_LIST['commit'][:12]}`): a manifest's "
        "`annotation` field names the list's section; a dataset without it is grouped by its tasks. "
        f"The column `reader` says whether sitsbench has a reader for the dataset (`reader` is the layout "
        f"that `load_dataset` reads it as, not `none`): {n_readers} of {len(manifests)} have one.",
        "",
        *tables,
        "## Fetching a dataset",
        "",
        "Downloads go to the data root: `--root`, else the `SITSBENCH_DATA` environment variable, else "
        "`~/.cache/sitsbench`. Checksums are verified where published; a file that does not match is deleted.",
        "",
        "```bash",
        "sitsbench data list",
        "sitsbench data info pastis",
        "sitsbench data fetch pastis --root /data/sits",
        "```",
        "",
        "```python",
        "from sitsbench.data.fetch import fetch",
        "paths = fetch(\"pastis\", root=\"/data/sits\")",
        "```",
        "",
        "## Dataset details",
        "",
        *details,
    ])
