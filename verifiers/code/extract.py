"""Find the program in a model's response: the last fenced code block of the right language.

Rules, in order:
1. Only text after the last ``</think>`` counts when a code block stands there (a reasoning
   model's drafts come before it), otherwise the whole response.
2. With a language asked for: the last block tagged with that language (any alias: py, c++...);
   else the last untagged block.
3. With no language: the last block tagged with a known language, which sets the language;
   else the last untagged block, read as Python.
4. A final fence that is never closed (a cut-off response) still counts as a block.
No block at all is no answer (None): prose is never run as code.
"""

from __future__ import annotations

import re

import msgspec

from sandbox.languages import find_language, get_language

DEFAULT_LANGUAGE = "python"
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[ \t]*([^`\s]*)[^\n]*$")


class Extracted(msgspec.Struct, frozen=True):
    language: str
    source: str
    method: str  # fenced, untagged or unclosed


class _Block(msgspec.Struct, frozen=True):
    tag: str
    source: str
    closed: bool


def extract_program(response: str, language: str | None = None) -> Extracted | None:
    """The program to run, by the rules above; None when the response has no code block.
    An unknown ``language`` is an error (ValueError naming the known ones)."""
    _, thinking_end, answer = response.rpartition("</think>")
    blocks = _fenced_blocks(answer) if thinking_end else []
    if not any(block.source.strip() for block in blocks):
        blocks = _fenced_blocks(response)
    blocks = [block for block in blocks if block.source.strip()]
    wanted = get_language(language).name if language else None
    for block in reversed(blocks):
        tagged = find_language(block.tag) if block.tag else None
        if tagged is not None and wanted in (None, tagged.name):
            return Extracted(tagged.name, block.source, _method(block, "fenced"))
    for block in reversed(blocks):
        if not block.tag:
            return Extracted(wanted or DEFAULT_LANGUAGE, block.source, _method(block, "untagged"))
    return None


def _method(block: _Block, kind: str) -> str:
    return kind if block.closed else "unclosed"


def _fenced_blocks(text: str) -> list[_Block]:
    """Markdown fenced blocks: a closing fence uses the opening's character, at least as many."""
    blocks, lines = [], text.split("\n")
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if not opening:
            continue
        fence, tag = opening.group(1), opening.group(2)
        body = []
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if closing and closing.group(1).startswith(fence) and not closing.group(2):
                break
            body.append(lines[index])
            index += 1
        closed = index < len(lines)
        index += 1
        blocks.append(_Block(tag.lower(), "\n".join(body) + "\n", closed))
    return blocks
