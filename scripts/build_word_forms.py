"""Rebuild safety/data/word_forms.json: every inflected form of every shipped term, by language.

The term lists hold dictionary forms (lemmas): `undress`, `desnudo`, `nackt`, `голый`. This script
asks the lemmatiser `simplemma` (offline dictionaries and rules for 50+ languages) for every form
whose lemma is one of those words (`undressed`, `undressing`, `desnuda`, `desnudas`, `nackte`,
`голая`, …): the forms its dictionary lists, and the words of the language's wordfreq list (that
begin like a listed word) that it lemmatises to one of them (its rules find `обезглавленное` →
`обезглавленный`, which the dictionary lacks). The result is a small JSON file that the prompt
filter reads at start-up; simplemma's dictionaries take seconds and gigabytes to load, so the bot
never loads them itself.

    .venv/bin/python scripts/build_word_forms.py [--check]

`--check` exits 1 when the shipped file differs from what the term lists and simplemma give now
(tests/safety/test_word_forms.py runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAFETY = ROOT / "safety"
OUT = SAFETY / "data" / "word_forms.json"
# The languages simplemma covers among the shipped lists (ja, zh, ko are matched as written).
LANGUAGES = ("en", "es", "fr", "de", "pt", "it", "nl", "pl", "ru")
STEM = 3


def _load(lang: str) -> dict[str, object]:
    path = SAFETY / "terms.toml" if lang == "en" else SAFETY / "lang" / f"{lang}.toml"
    return tomllib.loads(path.read_text(encoding="utf-8"))


def term_words(lang: str) -> set[str]:
    """The single words of the shipped non-pattern terms of ``lang``, lower case."""
    data = _load(lang)
    words: set[str] = set()
    for table in data.values():
        if not isinstance(table, dict):
            continue  # exempt, not_minor
        for term in table.get("terms", []):
            words.update(term.casefold().split())
    return words


def excluded_forms(lang: str) -> set[str]:
    """Forms the list says mean something else (``not_forms``: ``kidding`` is no child)."""
    return {str(form).casefold() for form in _load(lang).get("not_forms", [])}  # type: ignore[union-attr]


def forms_of(lang: str, wanted: set[str]) -> dict[str, list[str]]:
    """Word → its other forms, for the words of ``wanted`` that the dictionary knows as lemmas."""
    import wordfreq
    from simplemma import Lemmatizer
    from simplemma.strategies import DefaultStrategy
    from simplemma.strategies.dictionaries import DefaultDictionaryFactory

    # Russian dictionaries write ё or е; look the lemma up both ways.
    keys: dict[str, list[str]] = {}
    for w in sorted(wanted):
        keys.setdefault(w.replace("ё", "е"), []).append(w)
    excluded = excluded_forms(lang)
    found: dict[str, set[str]] = {}

    def keep(form: str, lemma: str) -> None:
        form = form.casefold()
        if form in excluded or not form.isalpha() or len(form) < 2:
            return
        for word in keys.get(lemma.casefold().replace("ё", "е"), ()):
            if form != word:
                found.setdefault(word, set()).add(form)

    factory = DefaultDictionaryFactory(cache_max_size=1)
    for form, lemma in factory.get_dictionary(lang).items():
        keep(form, lemma)
    lemmatizer = Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=factory))
    # Only words that begin like a listed word can be one of its forms: a cheap pre-filter.
    stems = {w[:STEM] for w in keys}
    for word in wordfreq.iter_wordlist(lang, "best"):
        if word[:STEM].replace("ё", "е") in stems:
            keep(word, lemmatizer.lemmatize(word, lang))
    return {word: sorted(forms) for word, forms in sorted(found.items())}


def build() -> dict[str, dict[str, list[str]]]:
    return {lang: forms_of(lang, term_words(lang)) for lang in LANGUAGES}


def render(table: dict[str, dict[str, list[str]]]) -> str:
    return json.dumps(table, ensure_ascii=False, indent=0, sort_keys=True) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    text = render(build())
    if args.check:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT.relative_to(ROOT)} is stale: run scripts/build_word_forms.py")
            return 1
        print(f"{OUT.relative_to(ROOT)} is up to date")
        return 0
    OUT.write_text(text, encoding="utf-8")
    counts = {lang: sum(len(v) for v in forms.values()) for lang, forms in json.loads(text).items()}
    print(f"wrote {OUT.relative_to(ROOT)}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
