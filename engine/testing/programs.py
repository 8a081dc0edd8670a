"""Broken versions of a reference program, for the mock's wrong code answers.

Three kinds, each sure to fail whatever the tests are: ``exception`` (raises before doing
anything), ``syntax_error`` (does not compile), and ``wrong_output`` (an extra line before the
right output), which only programs that read stdin get, since only stdin/stdout tests compare
output. Python and C++ are the sandbox's languages; any other language gets a syntax error.
"""

from __future__ import annotations

import re

from sandbox.languages import find_language

_READS_STDIN = {
    "python": re.compile(r"\binput\s*\(|\bsys\.stdin\b|\bopen\(\s*0\b"),
    "cpp": re.compile(r"\b(?:cin|scanf|getline|getchar|fread)\b"),
}
_BROKEN = {
    "python": {
        "exception": 'raise RuntimeError("mock teacher: a broken program")\n{source}',
        "syntax_error": "{source}\ndef broken(:\n    pass\n",
        "wrong_output": "print(0)\n{source}",
    },
    "cpp": {
        "exception": "#include <stdexcept>\n"
        'static const int mock_broken = (throw std::runtime_error("mock"), 0);\n{source}',
        "syntax_error": "{source}\nthis line is not C++\n",
        "wrong_output": '#include <cstdio>\nstatic const int mock_extra = std::printf("0\\n");\n'
        "{source}",
    },
}


def language_name(language: str | None) -> str:
    """The sandbox's name for a language tag (``py`` -> python); python when none is given."""
    found = find_language(language) if language else None
    return found.name if found else (language or "python")


def broken_kinds(source: str, language: str | None) -> list[str]:
    name = language_name(language)
    if name not in _BROKEN:
        return ["syntax_error"]
    kinds = ["exception", "syntax_error"]
    if _READS_STDIN[name].search(source):
        kinds.append("wrong_output")
    return kinds


def broken_program(source: str, language: str | None, choice: float) -> str:
    """``source`` broken in one of its kinds; ``choice`` in [0, 1) picks which."""
    kinds = broken_kinds(source, language)
    kind = kinds[int(choice * len(kinds))]
    name = language_name(language)
    if name not in _BROKEN:
        return f"{source}\n@@ not a program @@\n"
    return _BROKEN[name][kind].format(source=source.rstrip("\n"))
