"""The languages the sandbox runs. Adding one is one entry here (plus its toolchain in the image).

Command templates are filled in by the runner: ``{src}`` is the read-only source file and
``{bin}`` the read-only folder that holds it and the compiled ``artifact``. A compile command runs
once per program, in a fresh work dir, and must leave ``artifact`` there; an empty one means the
runs compile. ``python3`` as the first word means the sandbox's Python, which runs jobs by forking
a warm interpreter instead of starting a new one, and reports source that does not compile.
"""

from __future__ import annotations

import msgspec

#: C++ dialect and optimisation; the image precompiles <bits/stdc++.h> with exactly these flags
#: (GCC uses a precompiled header only when they match), which makes most contest programs
#: compile about four times faster
CPP_FLAGS = ("-std=c++17", "-O2")


class Language(msgspec.Struct, frozen=True):
    name: str
    aliases: tuple[str, ...]
    source_name: str
    compile: tuple[str, ...]
    run: tuple[str, ...]
    artifact: str | None = None


LANGUAGES: dict[str, Language] = {
    language.name: language
    for language in (
        Language(
            name="python",
            aliases=("python", "python3", "py", "py3"),
            source_name="main.py",
            compile=(),  # each run compiles (in the warm interpreter) and reports syntax errors
            run=("python3", "{src}"),
        ),
        Language(
            name="cpp",
            aliases=(
                "cpp",
                "c++",
                "cxx",
                "cc",
                *(f"{c}{v}" for c in ("cpp", "c++") for v in (11, 14, 17)),
            ),
            source_name="main.cpp",
            compile=("g++", *CPP_FLAGS, "-pipe", "-o", "prog", "{src}"),
            run=("{bin}/prog",),
            artifact="prog",
        ),
    )
}

_BY_ALIAS = {alias: language for language in LANGUAGES.values() for alias in language.aliases}


def find_language(name: str) -> Language | None:
    """The language a name or fence tag (``py``, ``C++``...) stands for, or None."""
    return _BY_ALIAS.get(name.strip().lower())


def get_language(name: str) -> Language:
    """Like :func:`find_language`, but an unknown name is an error that lists the known ones."""
    language = find_language(name)
    if language is None:
        raise ValueError(f"unknown language {name!r}; known: {', '.join(sorted(_BY_ALIAS))}")
    return language
