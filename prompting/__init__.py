"""Prompt text: structured specs, style presets, A1111 ⇄ compel weighting, negatives, lint.

Pure logic over text: imports neither discord, torch, compel, nor the queue. The one place the
engine meets it is ``build`` → ``BuiltPrompt`` (compel strings, per-image variants, edits).
"""

from prompting.config import PromptingConfig
from prompting.errors import PresetFileError, PromptError
from prompting.families import FAMILY_READING, FamilyReading, reading
from prompting.lint import lint, lint_built, tokens_of
from prompting.loras import MAX_LORA_WEIGHT, MIN_LORA_WEIGHT, LoraTag, extract_loras, parse_weight
from prompting.negatives import MODEL_FAMILIES, ModelFamily, compose_negative, default_negative
from prompting.notices import PromptWarning, WarningCode
from prompting.presets import Preset, PresetLibrary, load_library, load_presets_file
from prompting.spec import BuiltPrompt, PromptEditEntry, PromptSpec, build
from prompting.tokens import CHUNK_TOKENS, Tokenizer, TokenReport, estimate_tokens
from prompting.translate import Translation, to_compel, translate

__all__ = [
    "CHUNK_TOKENS",
    "FAMILY_READING",
    "MAX_LORA_WEIGHT",
    "MIN_LORA_WEIGHT",
    "MODEL_FAMILIES",
    "BuiltPrompt",
    "FamilyReading",
    "LoraTag",
    "ModelFamily",
    "Preset",
    "PresetFileError",
    "PresetLibrary",
    "PromptEditEntry",
    "PromptError",
    "PromptSpec",
    "PromptWarning",
    "PromptingConfig",
    "TokenReport",
    "Tokenizer",
    "Translation",
    "WarningCode",
    "build",
    "compose_negative",
    "default_negative",
    "estimate_tokens",
    "extract_loras",
    "lint",
    "lint_built",
    "load_library",
    "load_presets_file",
    "parse_weight",
    "reading",
    "to_compel",
    "tokens_of",
    "translate",
]
