"""Copy Discord's official OpenAPI description into the package: a fresh clone needs nothing else.

    python scripts/vendor_discord_spec.py [SOURCE_DIR]

SOURCE_DIR (default ``../shared/discord-api``, or ``../../shared/…`` from a worktree) holds
``openapi.json`` (``specs/openapi.json`` of discord/discord-api-spec), its ``LICENSE`` (MIT,
copyright Discord) and a README naming the commit. The spec is written minified (same content,
no indentation) to ``loopback/discord_api/``, with the licence and the README (as SOURCE.md)
beside it; rerun this script to take a newer spec.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "loopback" / "discord_api"


def main(argv: list[str]) -> int:
    candidates = [
        ROOT.parent / "shared" / "discord-api",
        ROOT.parents[1] / "shared" / "discord-api",
    ]
    source = (
        Path(argv[1])
        if len(argv) > 1
        else next((c for c in candidates if c.is_dir()), candidates[0])
    )
    spec = json.loads((source / "openapi.json").read_text(encoding="utf-8"))
    if spec.get("info", {}).get("license", {}).get("identifier") != "MIT":
        print(f"{source}/openapi.json does not say it is MIT-licensed; not copied")
        return 1
    TARGET.mkdir(parents=True, exist_ok=True)
    out = TARGET / "openapi.json"
    out.write_text(json.dumps(spec, separators=(",", ":"), ensure_ascii=False), encoding="utf-8")
    shutil.copyfile(source / "LICENSE", TARGET / "LICENSE")
    shutil.copyfile(source / "README.md", TARGET / "SOURCE.md")
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {len(spec['paths'])} paths)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
