#!/usr/bin/env python3
"""Check every built Lambda function against Lambda's 250 MB unzipped size limit.

Run after `sam build`. Reads the built template (`.aws-sam/build/template.yaml`), works
out each function's effective layers (`Globals.Function.Layers` followed by the
function's own, the way SAM merges lists), and adds up the unzipped size of the
function's code directory and of each layer directory. Prints a table and exits 1 when
any function (code + layers) or any layer on its own exceeds the limit, or when two
layers of one function ship different versions of the same distribution (Lambda
extracts all layers into /opt, so the later layer silently overwrites the earlier one's
files and leaves a mix of both versions).

    python scripts/check_sizes.py [--build-dir .aws-sam/build] [--limit-bytes 262144000]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

LAMBDA_UNZIPPED_LIMIT = 262_144_000  # 250 MiB: function code plus all of its layers
FUNCTION_TYPES = {"AWS::Serverless::Function", "AWS::Lambda::Function"}
LAYER_TYPES = {"AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"}
MIB = 1024 * 1024
DIST_INFO = re.compile(r"^(?P<name>.+?)-(?P<version>[^-]+)\.dist-info$")


class _CfnLoader(yaml.SafeLoader):
    """A YAML loader that accepts CloudFormation short tags (!Ref, !GetAtt, !Sub, ...)."""


def _construct_cfn_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_cfn_tag)


def load_template(path: Path) -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML template, short intrinsic tags included."""
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    if not isinstance(document, dict) or "Resources" not in document:
        raise ValueError(f"{path} is not a CloudFormation template")
    return document


def directory_size(path: Path) -> int:
    """Unzipped size of a directory tree: the sum of its regular files (symlinks not followed)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            entry = Path(root, name)
            if not entry.is_symlink():
                total += entry.stat().st_size
    return total


def distributions(path: Path) -> dict[str, str]:
    """Installed distributions in a built layer/function directory: normalised name -> version."""
    found: dict[str, str] = {}
    for site in (path, path / "python"):
        if not site.is_dir():
            continue
        for entry in site.iterdir():
            match = DIST_INFO.match(entry.name)
            if entry.is_dir() and match:
                name = re.sub(r"[-_.]+", "-", match["name"]).lower()
                found[name] = match["version"]
    return found


@dataclass
class Layer:
    """A layer used by a function: a directory of this build or an external ARN."""

    name: str
    path: Path | None = None  # None: external layer, size unknown here
    size: int = 0


@dataclass
class FunctionReport:
    """One function's measured code and layers."""

    name: str
    code_size: int
    layers: list[Layer] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.code_size + sum(layer.size for layer in self.layers)


def _local_path(build_dir: Path, value: Any) -> Path | None:
    if isinstance(value, str) and not value.startswith("s3://"):
        return (build_dir / value).resolve()
    return None


def measure(build_dir: Path) -> tuple[list[FunctionReport], dict[str, Layer]]:
    """Measure every function and layer of the built template in `build_dir`."""
    template = load_template(build_dir / "template.yaml")
    resources: dict[str, Any] = template["Resources"]
    global_layers = ((template.get("Globals") or {}).get("Function") or {}).get("Layers") or []

    layers: dict[str, Layer] = {}
    for logical_id, resource in resources.items():
        if resource.get("Type") in LAYER_TYPES:
            props = resource.get("Properties") or {}
            path = _local_path(build_dir, props.get("ContentUri", props.get("Content")))
            size = directory_size(path) if path and path.is_dir() else 0
            layers[logical_id] = Layer(logical_id, path, size)

    reports: list[FunctionReport] = []
    for logical_id, resource in sorted(resources.items()):
        if resource.get("Type") not in FUNCTION_TYPES:
            continue
        props = resource.get("Properties") or {}
        if props.get("PackageType") == "Image":
            continue
        code_path = _local_path(build_dir, props.get("CodeUri", props.get("Code")))
        code_size = directory_size(code_path) if code_path and code_path.is_dir() else 0
        own_layers = props.get("Layers") or []
        if resource["Type"] == "AWS::Serverless::Function":
            own_layers = [*global_layers, *own_layers]
        report = FunctionReport(logical_id, code_size)
        for ref in own_layers:
            if isinstance(ref, dict) and ref.get("Ref") in layers:
                report.layers.append(layers[ref["Ref"]])
            else:
                report.layers.append(Layer(str(ref)))
        reports.append(report)
    return reports, layers


def version_conflicts(report: FunctionReport) -> list[str]:
    """Distributions that two layers of one function ship in different versions."""
    seen: dict[str, tuple[str, str]] = {}
    problems: list[str] = []
    for layer in report.layers:
        if layer.path is None:
            continue
        for name, version in distributions(layer.path).items():
            if name in seen and seen[name][1] != version:
                other, other_version = seen[name]
                problems.append(
                    f"{report.name}: {name} {other_version} ({other}) vs {version} ({layer.name})"
                )
            seen.setdefault(name, (layer.name, version))
    return problems


def _mib(size: int) -> str:
    return f"{size / MIB:8.1f}"


def render(reports: list[FunctionReport], layers: dict[str, Layer], limit: int) -> str:
    """The size table: one row per function, then one per layer."""
    width = max([len("function / layer"), *(len(r.name) for r in reports), *map(len, layers)])
    header = (
        f"{'function / layer':<{width}}  {'code MiB':>8}  {'layers MiB':>10}  {'total MiB':>9}"
        f"  {'total bytes':>13}  {'of limit':>8}  layers"
    )
    lines = [header, "-" * len(header)]
    for report in reports:
        layer_size = sum(layer.size for layer in report.layers)
        names = ", ".join(
            layer.name if layer.path else f"{layer.name} (external, not measured)"
            for layer in report.layers
        )
        status = "  TOO BIG" if report.total > limit else ""
        lines.append(
            f"{report.name:<{width}}  {_mib(report.code_size)}  {_mib(layer_size):>10}  "
            f"{_mib(report.total):>9}  {report.total:>13,}  {report.total / limit:8.1%}  "
            f"{names or '-'}{status}"
        )
    if layers:
        lines.append("")
        for layer in layers.values():
            status = "  TOO BIG" if layer.size > limit else ""
            lines.append(
                f"{layer.name:<{width}}  {'':>8}  {_mib(layer.size):>10}  {'':>9}  "
                f"{layer.size:>13,}  {layer.size / limit:8.1%}  (layer on its own){status}"
            )
    lines.append(f"\nlimit: {limit:,} bytes ({limit / MIB:.0f} MiB) unzipped, function + layers")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build-dir", type=Path, default=Path(".aws-sam/build"))
    parser.add_argument("--limit-bytes", type=int, default=LAMBDA_UNZIPPED_LIMIT)
    args = parser.parse_args(argv)

    template = args.build_dir / "template.yaml"
    if not template.is_file():
        print(f"error: {template} not found; run `sam build` first", file=sys.stderr)
        return 2
    reports, layers = measure(args.build_dir)
    print(render(reports, layers, args.limit_bytes))

    failures = [
        f"{r.name}: {r.total:,} bytes exceeds {args.limit_bytes:,}"
        for r in reports
        if r.total > args.limit_bytes
    ]
    failures += [
        f"{layer.name}: {layer.size:,} bytes exceeds {args.limit_bytes:,}"
        for layer in layers.values()
        if layer.size > args.limit_bytes
    ]
    for report in reports:
        failures += [f"version conflict {p}" for p in version_conflicts(report)]
    for failure in failures:
        print(f"FAIL {failure}", file=sys.stderr)
    if not failures:
        print("OK: every function is within the limit")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
