"""Find brackets that have no partner, so the grammars only ever see balanced text.

A linear scan with a stack (no regular expressions): an opening bracket without its closing
partner, or a closing one without an opener, is escaped with a backslash and reported, so it
reaches the model as the literal character instead of failing the parse.
"""

from __future__ import annotations

from collections.abc import Iterator

from prompting.notices import PromptWarning, WarningCode


def escape_unbalanced(text: str, pairs: dict[str, str]) -> tuple[str, list[PromptWarning]]:
    """Escape every bracket of ``pairs`` (opener → closer) that has no partner in ``text``.

    Backslash escapes are honoured: ``\\(`` is already literal and never pairs.
    """
    closers = {close: open_ for open_, close in pairs.items()}
    stack: list[int] = []
    unmatched: list[int] = []
    for index, char in unescaped(text):
        if char in pairs:
            stack.append(index)
        elif char in closers:
            if stack and text[stack[-1]] == closers[char]:
                stack.pop()
            else:
                unmatched.append(index)
    unmatched.extend(stack)
    if not unmatched:
        return text, []
    positions = set(unmatched)
    escaped = "".join("\\" + char if i in positions else char for i, char in enumerate(text))
    found = sorted((i, text[i]) for i in positions)
    shown = ", ".join(f"{char!r} at {i}" for i, char in found[:5])
    warning = PromptWarning(
        code=WarningCode.UNBALANCED_BRACKET,
        message=f"unbalanced bracket(s) kept as plain text: {shown}"
        + (f" and {len(found) - 5} more" if len(found) > 5 else ""),
        detail={"positions": [i for i, _ in found], "characters": [c for _, c in found]},
    )
    return escaped, [warning]


def nesting_depth(text: str, openers: str = "([", closers: str = ")]") -> int:
    """How deep unescaped brackets nest in ``text`` (``(a (b)1.1)`` is 2)."""
    depth = deepest = 0
    for _, char in unescaped(text):
        if char in openers:
            depth += 1
            deepest = max(deepest, depth)
        elif char in closers:
            depth = max(0, depth - 1)
    return deepest


def unescaped(text: str) -> Iterator[tuple[int, str]]:
    """Each character of ``text`` with its index, but a backslash and what it escapes."""
    index = 0
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        yield index, text[index]
        index += 1
