"""``muralist models`` (the catalog and where each model loads from) and ``muralist merge``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bot.config import Settings
from generation.catalog import Catalog, ModelSpec
from generation.errors import InvalidRequest


def register(subparsers: Any) -> None:
    models = subparsers.add_parser("models", help="list the models and where each loads from")
    models.add_argument("--json", action="store_true", help="print a JSON list")
    models.set_defaults(handler=list_models)

    loras = subparsers.add_parser("loras", help="list the LoRAs and embeddings of the catalog")
    loras.add_argument("--json", action="store_true", help="print a JSON list")
    loras.set_defaults(handler=list_adapters)

    guides = subparsers.add_parser(
        "guides", help="list the IP-Adapters and ControlNets of the catalog, and who uses which"
    )
    guides.add_argument("--json", action="store_true", help="print a JSON list")
    guides.set_defaults(handler=list_guides)

    merge = subparsers.add_parser(
        "merge", help="merge two models of one family into a new diffusers folder"
    )
    merge.add_argument("a", help="first model (catalog name or path)")
    merge.add_argument("b", help="second model (catalog name or path)")
    merge.add_argument(
        "--alpha", type=float, default=0.5, help="weight of B, 0..1 (default 0.5: the average)"
    )
    merge.add_argument("--out", type=Path, required=True, help="new folder to write")
    merge.set_defaults(handler=merge_command)


def _adapters(catalog: Catalog) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind, table in (("lora", catalog.loras), ("embedding", catalog.embeddings)):
        for spec in table.values():
            rows.append(
                {
                    "kind": kind,
                    "name": spec.name,
                    "family": spec.family,
                    "source": spec.source,
                    "weight": getattr(spec, "weight", None),
                    "token": getattr(spec, "token", None),
                    "description": spec.description,
                }
            )
    return rows


def list_adapters(args: argparse.Namespace, settings: Settings) -> int:
    rows = _adapters(Catalog.load(settings.engine.models_file))
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max((len(row["name"]) for row in rows), default=10) + 2
    for row in rows:
        call = f"weight {row['weight']:g}" if row["kind"] == "lora" else row["token"]
        print(f"  {row['name']:<{width}}{row['family']:<6}{row['kind']:<11}{call}")
    print("\nLoRAs: <lora:NAME:WEIGHT> in a prompt (or --lora); embeddings: their token.")
    return 0


def model_guides(catalog: Catalog, spec: ModelSpec) -> dict[str, Any]:
    """The IP-Adapter and the ControlNet per mode that ``spec``'s model uses (None: none)."""

    def name(find: Any) -> str | None:
        try:
            return str(find().name)
        except InvalidRequest:
            return None

    return {
        "ip_adapter": name(lambda: catalog.ip_adapter_for(spec, "style")),
        "controlnets": {
            mode: name(lambda mode=mode: catalog.controlnet_for(spec, mode))
            for mode in ("canny", "lineart")
        },
    }


def list_guides(args: argparse.Namespace, settings: Settings) -> int:
    catalog = Catalog.load(settings.engine.models_file)
    guides = [
        *(
            {"kind": "ip_adapter", **spec.model_dump(mode="json")}
            for spec in catalog.ip_adapters.values()
        ),
        *(
            {"kind": "controlnet", **spec.model_dump(mode="json")}
            for spec in catalog.controlnets.values()
        ),
    ]
    uses = {spec.name: model_guides(catalog, spec) for spec in catalog}
    if args.json:
        print(json.dumps({"guides": guides, "models": uses}, indent=2))
        return 0
    width = max((len(row["name"]) for row in guides), default=10) + 2
    for row in guides:
        what = "IP-Adapter" if row["kind"] == "ip_adapter" else f"ControlNet {row['mode']}"
        source = row["hub"] or row["folder"] or f"built in ({row['builtin']})"
        print(f"  {row['name']:<{width}}{row['family']:<6}{what:<20}{source}")
    print("\nWho uses which (sref/cref: the IP-Adapter; control: the ControlNet of the mode):")
    for model, use in uses.items():
        nets = ", ".join(f"{mode}: {net}" for mode, net in use["controlnets"].items() if net)
        print(f"  {model}: IP-Adapter {use['ip_adapter'] or 'none'}; {nets or 'no ControlNet'}")
    return 0


def list_models(args: argparse.Namespace, settings: Settings) -> int:
    engine = settings.engine
    catalog = Catalog.load(engine.models_file)
    rows: list[dict[str, Any]] = [
        {
            "name": spec.name,
            "path": spec.location(engine.cache_dir),
            "source": spec.source,
            "family": spec.family,
            "native_size": list(spec.native_size),
            "scheduler": spec.scheduler or engine.default_scheduler,
            "default_negative": spec.default_negative,
            "description": spec.description,
            "default": spec.name == engine.default_model,
            "steps": spec.steps,
            "max_steps": spec.max_steps,
            "guidance": spec.guidance,
            "draft_of": spec.draft_of,
            "loras": [lora.model_dump() for lora in spec.loras],
            "inpaint": catalog.inpainter(spec.name).name,  # who paints its zoom/pan/region
            "inpainting": spec.inpainting,
            **model_guides(catalog, spec),
        }
        for spec in catalog
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    width = max(len(row["name"]) for row in rows) + 2
    for row in rows:
        mark = "*" if row["default"] else " "
        size = "×".join(str(side) for side in row["native_size"])
        columns = f"{row['name']:<{width}}{row['family']:<6}{size:<11}{row['source']:<11}"
        print(f"{mark} {columns}{row['path']}")
        if row["description"]:
            print(f"  {'':<{width}}{row['description']}")
    print("\n* the default model (engine.default_model); LoRAs: `muralist loras`")
    return 0


def merge_command(args: argparse.Namespace, settings: Settings) -> int:
    from generation.merge import merge_models

    result = merge_models(settings.engine, args.a, args.b, args.alpha, args.out)
    folder = result.folder.resolve()
    print(f"merged {args.a} and {args.b} (alpha {args.alpha}) into {folder}")
    print("to use it, add this to your models file (engine.models_file):")
    name, path = json.dumps(folder.name), json.dumps(str(folder))
    print(f'\n[models.{name}]\nfolder = {path}\nfamily = "{result.family}"')
    return 0
