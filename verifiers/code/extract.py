"""Find the program in a model's response: the fenced code block a reader would run.

Rules, in order:
1. Only text after the last ``</think>`` counts when a code block stands there (a reasoning
   model's drafts come before it), otherwise the whole response.
2. Candidates: with a language asked for, the blocks tagged with it (any alias: ``py``,
   ``Python3``, ``c++``, pandoc's ``{.python}``) and the untagged blocks; with no language, the
   blocks tagged with any known language (the chosen block sets the language) and the untagged
   ones (C++ when they look like it, else Python).
3. Of the candidates, the last that provides what the tests need (an :class:`Entry`): it
   defines one of the names the tests call, or it is a whole program that reads its input.
   A trailing usage example (``print(f(3))``) does neither. When no candidate does: the last
   tagged candidate, else the last untagged one.
4. Fences are three or more backticks or tildes, indented by any amount or after a list
   item's marker (a block inside a list item), and the block is dedented; a final fence that
   is never closed (a cut-off response) still counts; CRLF line ends read as LF.
No block at all is no answer (None): prose is never run as code.
"""

from __future__ import annotations

import re
import textwrap

import msgspec

from sandbox.languages import find_language, get_language

DEFAULT_LANGUAGE = "python"
#: a fence, maybe indented or right after a list item's marker (``1. ```python``)
_FENCE = re.compile(r"^([ \t]*(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?)(`{3,}|~{3,})(.*)$")
#: a whole program that reads its input, by language (other languages: any block is one)
_READS_INPUT = {
    "python": re.compile(r"\binput\s*\(|\bstdin\b|\bopen\s*\(\s*0\s*[,)]|\bfileinput\b"),
    "cpp": re.compile(r"\bmain\s*\("),
}
_LOOKS_LIKE_CPP = re.compile(r"^\s*#\s*include\b|\bint\s+main\s*\(", re.MULTILINE)
_PYTHON_DEFINITION = r"^[ \t]*(?:(?:async[ \t]+)?def|class)[ \t]+({names})\b|^({names})[ \t]*[:=]"


class Entry(msgspec.Struct, frozen=True):
    """What a solution block provides for its tests: a definition of one of ``names``
    (function-call tests), or, with ``reads_input``, a whole program reading its input."""

    names: frozenset[str] = frozenset()
    reads_input: bool = False


class Extracted(msgspec.Struct, frozen=True):
    language: str
    source: str
    method: str  # fenced, untagged or unclosed


class _Block(msgspec.Struct, frozen=True):
    tag: str
    source: str
    closed: bool


def extract_program(
    response: str, language: str | None = None, entry: Entry | None = None
) -> Extracted | None:
    """The program to run, by the rules above; None when the response has no code block.
    An unknown ``language`` is an error (ValueError naming the known ones)."""
    response = response.replace("\r\n", "\n")
    _, thinking_end, answer = response.rpartition("</think>")
    blocks = _fenced_blocks(answer) if thinking_end else []
    if not any(block.source.strip() for block in blocks):
        blocks = _fenced_blocks(response)
    wanted = get_language(language).name if language else None
    candidates: list[tuple[bool, Extracted]] = []  # (tagged, block), in the response's order
    for block in blocks:
        if not block.source.strip():
            continue
        if not block.tag:
            guessed = wanted or _guess_language(block.source)
            candidates.append((False, Extracted(guessed, block.source, _method(block, "untagged"))))
        elif (known := find_language(block.tag)) is not None and wanted in (None, known.name):
            candidates.append((True, Extracted(known.name, block.source, _method(block, "fenced"))))
    if entry is not None:
        for _, found in reversed(candidates):
            if _provides(found, entry):
                return found
    for wanted_tagged in (True, False):
        for tagged, found in reversed(candidates):
            if tagged == wanted_tagged:
                return found
    return None


def _provides(found: Extracted, entry: Entry) -> bool:
    if entry.reads_input:
        reads = _READS_INPUT.get(found.language)
        if reads is None or reads.search(found.source):
            return True
    if entry.names and found.language == "python":
        names = "|".join(re.escape(name) for name in sorted(entry.names))
        return re.search(_PYTHON_DEFINITION.format(names=names), found.source, re.M) is not None
    return False


def _guess_language(source: str) -> str:
    return "cpp" if _LOOKS_LIKE_CPP.search(source) else DEFAULT_LANGUAGE


def _method(block: _Block, kind: str) -> str:
    return kind if block.closed else "unclosed"


def _fence_tag(info: str) -> str:
    """The language of a fence's info string: its first word (``python title=x``), or the
    first class of a pandoc attribute block (``{.python .numberLines}``, ``{python, echo=F}``)."""
    info = info.strip()
    if info.startswith("{"):
        words = info.strip("{}").replace(",", " ").split()
        classes = [word[1:] for word in words if word.startswith(".")]
        info = (classes or words or [""])[0]
    word = info.split(maxsplit=1)[0] if info else ""
    return word.removeprefix("language-").lower()


def _fenced_blocks(text: str) -> list[_Block]:
    """Markdown fenced blocks: a closing fence uses the opening's character, at least as many,
    and no info string; a backtick fence's info string has no backtick (else it is inline code).
    Each line loses the opening fence's indentation, then the block its common indentation."""
    blocks, lines = [], text.split("\n")
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        index += 1
        if not opening or (opening.group(2)[0] == "`" and "`" in opening.group(3)):
            continue
        indent, fence, info = opening.groups()
        body = []
        while index < len(lines):
            closing = _FENCE.match(lines[index])
            if closing and closing.group(2).startswith(fence) and not closing.group(3).strip():
                break
            line = lines[index]
            body.append(line[min(len(indent), len(line) - len(line.lstrip(" \t"))) :])
            index += 1
        closed = index < len(lines)
        index += 1
        source = textwrap.dedent("\n".join(body) + "\n")
        blocks.append(_Block(_fence_tag(info), source, closed))
    return blocks
