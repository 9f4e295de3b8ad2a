"""The ``muralist`` command line: one subcommand module per area, one error policy for all.

A user error (bad option, unknown model, invalid setting) prints one line naming the field and
exits 2; an unexpected failure prints one line and exits 1. No traceback reaches a user unless
``MURALIST_DEBUG=1``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from bot.config import SettingsError, describe_validation_error, load_settings
from generation.errors import GenerationError, InvalidRequest, ModelLoadError
from prompting.errors import PromptError
from safety.errors import InvalidSafetyInput

# Each module defines ``register(subparsers)`` and sets ``handler(args, settings) -> int``.
COMMAND_MODULES = (
    "bot.cli.generation_commands",
    "bot.cli.outpaint_commands",
    "bot.cli.model_commands",
    "bot.cli.prompting_commands",
    "bot.cli.safety_commands",
    "bot.cli.queue_commands",
    "bot.cli.bot_commands",
    "bot.cli.settings_commands",
    "bot.cli.ops_commands",
)

USER_ERRORS: tuple[type[Exception], ...] = (
    InvalidRequest,
    ModelLoadError,
    PromptError,
    InvalidSafetyInput,
    SettingsError,
    ValidationError,
)

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="muralist", description="Muralist: Stable Diffusion for Discord communities."
    )
    parser.add_argument("--config", type=Path, help="TOML settings file (default: MURALIST_CONFIG)")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    # transformers warns on stderr about the optional torchvision; a user sees one line or none.
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
        code: int = args.handler(args, settings)
        return code
    except USER_ERRORS as exc:
        message = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        print(f"muralist {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("muralist: interrupted", file=sys.stderr)
        return 130
    except GenerationError as exc:
        print(f"muralist {args.command}: failed: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:
        if os.environ.get("MURALIST_DEBUG"):
            raise
        print(
            f"muralist {args.command}: unexpected error ({type(exc).__name__}: {exc}); "
            "run again with MURALIST_DEBUG=1 for details",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
