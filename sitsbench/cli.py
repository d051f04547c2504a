"""The ``sitsbench`` command line. Each topic registers its sub-commands in :data:`COMMAND_MODULES`."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = (
    "sitsbench.commands.synthetic",
    "sitsbench.commands.train",
    "sitsbench.commands.pretrain",
    "sitsbench.commands.validate",
    "sitsbench.commands.evaluate",
    "sitsbench.commands.predict_map",
    "sitsbench.commands.data",
    "sitsbench.commands.sweep",
    "sitsbench.commands.results",
)
"""Modules that expose ``register(subparsers)``; each adds its sub-commands with ``set_defaults(func=...)``."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sitsbench", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (FileNotFoundError, FileExistsError, ValueError, KeyError, RuntimeError, ConnectionError) as error:
        print(f"sitsbench {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
