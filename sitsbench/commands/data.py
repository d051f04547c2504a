"""``sitsbench data list|info|describe|fetch``: the dataset manifests and their verified downloads, and the
description files of local data (:mod:`sitsbench.data.description`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from sitsbench.data.fetch import CONNECT_TIMEOUT, ENV_VAR, SOURCE_ENV_VAR, data_root, fetch, local_source
from sitsbench.data.manifests import (
    load_manifest,
    load_manifest_file,
    manifest_paths,
    summary_rows,
    text_table,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="list, describe and download published SITS datasets")
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="table of the dataset manifests").set_defaults(func=run_list)
    info = actions.add_parser(
        "info", help="every field of one manifest, or a description of a local dataset (path or NAME:ROOT)"
    )
    info.add_argument("name", help="a manifest name, a path to a local dataset, NAME:ROOT or a synthetic preset")
    info.set_defaults(func=run_info)
    describe = actions.add_parser(
        "describe", help="write a starting dataset description (YAML) of a folder of rasters or a sample table; "
        "every value it cannot decide is FILL_IN: sitsbench data describe PATH > my.yaml"
    )
    describe.add_argument("path", help="a folder of rasters (with labelled points), or a sample table (.csv)")
    describe.add_argument("--relative-to", default=".", metavar="DIR",
                          help="folder the description will be saved in: its paths are relative to it (default: .)")
    describe.set_defaults(func=run_describe)
    get = actions.add_parser("fetch", help="download a dataset's files and verify their checksums")
    get.add_argument("name")
    get.add_argument("--root", help=f"data root (default: ${ENV_VAR} or ~/.cache/sitsbench)")
    get.add_argument("--retries", type=int, default=1, help="extra attempts after a failed download")
    get.add_argument("--timeout", type=float, default=CONNECT_TIMEOUT, help="connect timeout in seconds")
    get.add_argument("--progress", action="store_true", help="show a progress bar")
    get.add_argument(
        "--from", dest="source", metavar="DIR",
        help=f"take the files from a local copy of the dataset's folder (DIR/<filename>) instead of downloading: "
        f"each is copied only if its checksum matches the manifest (default: ${SOURCE_ENV_VAR} if set)",
    )
    get.set_defaults(func=run_fetch)


def run_list(args: argparse.Namespace) -> int:
    manifests, broken = {}, []
    for path in manifest_paths():
        try:
            manifests[path.stem] = load_manifest_file(path)
        except ValueError as error:  # one broken manifest must not hide the others
            broken.append(str(error))
    print(text_table(summary_rows(manifests)))
    for message in broken:
        print(f"invalid manifest: {message}", file=sys.stderr)
    return 1 if broken else 0


class _InfoDumper(yaml.SafeDumper):
    """Multi-line strings (description, BibTeX) as readable ``|`` blocks."""


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_InfoDumper.add_representer(str, _represent_str)


def run_info(args: argparse.Namespace) -> int:
    if Path(args.name).expanduser().exists() or ":" in args.name or args.name in _presets():
        from sitsbench.data.loading import load_dataset

        description = load_dataset(args.name).describe()
        print(yaml.dump(description, Dumper=_InfoDumper, sort_keys=False, allow_unicode=True, width=110).rstrip())
        return 0
    manifest = load_manifest(args.name)
    print(yaml.dump(manifest, Dumper=_InfoDumper, sort_keys=False, allow_unicode=True, width=110).rstrip())
    return 0


def run_describe(args: argparse.Namespace) -> int:
    from sitsbench.data.description import describe_path

    sys.stdout.write(describe_path(args.path, args.relative_to))
    return 0


def _presets() -> set[str]:
    from sitsbench.data.synthetic import PRESETS

    return set(PRESETS)


def run_fetch(args: argparse.Namespace) -> int:
    source = local_source(args.source)
    origin = f" from the local copy {source}" if source is not None else ""
    print(f"fetching {args.name} into {data_root(args.root) / args.name}{origin}")
    for item in fetch(args.name, root=args.root, retries=args.retries, connect_timeout=args.timeout,
                      progress=args.progress, source=source):
        status = "verified" if item.verified else "NOT verified (no published checksum)"
        print(f"{item.path}  {item.checksum}  {status}")
    return 0
