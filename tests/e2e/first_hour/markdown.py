"""The code blocks of the docs, read as a person reads them: fenced blocks, shell lines and their comments,
console transcripts (``$ command`` then what it printed)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_FENCE = re.compile(r"^(\s*)```(\w*)\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language tag, its text (indentation removed) and the line it starts on."""

    lang: str
    text: str
    line: int


def blocks(path: Path) -> list[Block]:
    """Every fenced block of a Markdown file, in order."""
    found: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, lang = opening.group(1), opening.group(2)
        body: list[str] = []
        i += 1
        while i < len(lines) and lines[i].strip() != "```":
            body.append(lines[i].removeprefix(indent))
            i += 1
        found.append(Block(lang, "\n".join(body) + "\n", i - len(body)))
        i += 1
    return found


def split_comment(line: str) -> tuple[str, str]:
    """A shell line's command and its trailing ``# comment`` (a ``#`` after a blank, outside quotes)."""
    quote = ""
    for i, char in enumerate(line):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip(), line[i + 1 :].strip()
    return line.rstrip(), ""


def shell_lines(block: Block) -> list[tuple[str, str]]:
    """The commands of a ``bash`` block with their comments; ``a; b`` are two commands."""
    found: list[tuple[str, str]] = []
    for line in block.text.splitlines():
        command, comment = split_comment(line)
        parts = [part.strip() for part in command.split("; ") if part.strip()]
        found += [(part, comment) for part in parts]
    return found


def transcript(block: Block) -> list[tuple[str, str]]:
    """The ``$ command`` lines of a ``console`` block, each with the output shown after it."""
    found: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            found.append((split_comment(line[2:])[0], []))
        elif found:
            found[-1][1].append(line)
    return [(command, "\n".join(output)) for command, output in found]
