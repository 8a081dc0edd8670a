"""String-level clean-up of an extracted math answer before it is parsed.

Turns the many ways of writing one answer in LaTeX or plain text into one spelling: display
commands, spacing, units, degrees, currency, thousands separators and trailing punctuation go;
``\\dfrac``/``\\tfrac`` become ``\\frac``; brace-less arguments (``\\frac12``) get braces.
"""

from __future__ import annotations

import re

_UNICODE = {
    "−": "-",
    "–": "-",
    "×": r"\times ",
    "·": r"\cdot ",
    "÷": "/",
    "√": r"\sqrt",
    "π": r"\pi ",
    "∞": r"\infty ",
    "≤": r"\le ",
    "≥": r"\ge ",
    "≠": r"\ne ",
    "∪": r"\cup ",
    "±": r"\pm ",
    "∈": r"\in ",
    "°": "",
    "\u2009": " ",
    "\u00a0": " ",
}

_REPLACE = [
    (r"\left.", " "),
    (r"\right.", " "),
    (r"^{\prime\prime}", "''"),
    (r"^{\prime}", "'"),
    (r"^\prime", "'"),
    (r"\dfrac", r"\frac"),
    (r"\tfrac", r"\frac"),
    (r"\cfrac", r"\frac"),
    (r"\dbinom", r"\binom"),
    (r"\tbinom", r"\binom"),
    (r"\leqslant", r"\le "),
    (r"\geqslant", r"\ge "),
    (r"\leq", r"\le "),
    (r"\geq", r"\ge "),
    (r"\neq", r"\ne "),
    (r"\lvert", "|"),
    (r"\rvert", "|"),
    (r"\vert", "|"),
    (r"\lbrace", r"\{"),
    (r"\rbrace", r"\}"),
    (r"\cdot", "*"),
    (r"\times", "*"),
    (r"\ast", "*"),
    (r"\div", "/"),
    (r"\varnothing", r"\emptyset"),
    (r"\infinity", r"\infty"),
    (r"\%", "%"),
    (r"\$", ""),
]

# Commands that only change how something looks.
_DROP_COMMANDS = re.compile(
    r"\\(?:displaystyle|textstyle|scriptstyle|left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|"
    r"Biggl|Biggr|big|Big|bigg|Bigg|limits|nolimits|mathbf|mathit|boldsymbol|bm)(?![a-zA-Z])"
)
_SPACES = re.compile(r"(?<!\\)\\[,;:! ]|\\q?quad(?![a-zA-Z])|~|\\hspace\{[^}]*\}")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])")
_THOUSANDS_LATEX = re.compile(r"(\d)\s*(?:\{,\}|,\\!|,\\ )\s*(?=\d{3}(?!\d))")
# ``f{\left(x\right)}`` (as sympy prints a call) is ``f(x)``.
_BRACED_CALL = re.compile(r"(?<![\\A-Za-z])([A-Za-z])\{\s*\(([^{}()]*)\)\s*\}")
_TEXT_COMMAND = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|textup|textsf|texttt|mbox|hbox|mathrm|mathsf|"
    r"mathtt|mathnormal|rm)\s*\{"
)
# "40 percent", "40 pct", "40 percentage points", "40 per cent" are 40%.
_PERCENT_WORD = re.compile(
    r"(?:percentage\s+points?|percentage|percent|per\s+cent|pct)\.?(?![A-Za-z])", re.IGNORECASE
)
_PERCENT_AFTER_NUMBER = re.compile(
    rf"(?<=[\d}}])(?:\s|\\[,;! ]|~)*{_PERCENT_WORD.pattern}", re.IGNORECASE
)
_NAMES_VALUE = re.compile(r"\s*(?:_\s*\{[^}]*\}|_\w)?\s*=")
_CONNECTIVES = {"or": " or ", "and": " and ", ",": ","}
# Multi-letter unit words only: a lone letter after a number (``6m``) is a variable.
_UNIT_WORDS = (
    "cm|mm|km|meters?|metres?|kilometers?|inches|inch|feet|foot|ft|yards?|miles?|"
    "mph|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|yrs?|yr|"
    "degrees?|deg|radians?|dollars?|cents?|units?|square|sq|cubic|grams?|kg|mg|"
    "liters?|litres?|ml|mL|Hz|kHz|MHz|GHz|kJ|eV|keV|MeV|kW|Pa|kPa|"
    "calories|kcal|people|students|ways|points|books|marbles|apples|cookies|pages|"
    "m/s|km/h|km/hr|mi/h|ft/s|m/s\\^2"
)
_UNIT_TAIL = re.compile(rf"(?<=[\d}}\s])\s*(?:(?:{_UNIT_WORDS})(?:\s*\^\s*\{{?-?\d+\}}?)?\s*)+$")
_PLAIN_THOUSANDS = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?")
_SPACE_THOUSANDS = re.compile(r"-?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_PLAIN_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_COMMAND_ARGS = {r"\frac": 2, r"\binom": 2, r"\sqrt": 1}


def normalize(text: str) -> str:
    """One canonical spelling of an answer string (still LaTeX-ish, ready for the parser)."""
    s = text.strip()
    if _PLAIN_NUMBER.fullmatch(s):  # the common case needs no rewriting
        return s
    for old, new in _UNICODE.items():
        s = s.replace(old, new)
    s = s.replace("$", " ")
    s = _PERCENT_AFTER_NUMBER.sub("%", _strip_text_commands(s))
    for old, new in _REPLACE:
        s = s.replace(old, new)
    s = _DROP_COMMANDS.sub(" ", s)
    s = _THOUSANDS_LATEX.sub(r"\1", s)
    s = _BRACED_CALL.sub(r"\1(\2)", s)
    s = _SPACES.sub(" ", s)
    s = _DEGREES.sub(" ", s)
    s = re.sub(r"\s+", " ", s).strip()
    s = s.rstrip(".,;: ").lstrip(",;: ")
    s = _UNIT_TAIL.sub("", s).strip() if _UNIT_TAIL.search(s) and _has_digit(s) else s
    s = _brace_command_args(s)
    if _PLAIN_THOUSANDS.fullmatch(s) or _SPACE_THOUSANDS.fullmatch(s):
        s = s.replace(",", "").replace(" ", "")
    return s.strip()


def text_key(text: str) -> str:
    """Comparable form of a word answer: ``\\text{(B)}``, ``(b)`` and ``B`` all give ``b``."""
    s = _TEXT_COMMAND.sub("{", text)
    s = re.sub(r"[^0-9a-zA-Z]+", " ", s).strip().lower()
    return s


def is_text_answer(text: str) -> bool:
    """True for answers that are words (``\\text{Evelyn}``, ``\\text{(C)}``), not math."""
    s = text.strip().strip("$").strip()
    match = _TEXT_COMMAND.match(s)
    if not match:
        return False
    end = matching_brace(s, match.end() - 1)
    if end != len(s) - 1:
        return False
    inner = s[match.end() : end].strip()
    return bool(re.fullmatch(r"\(?[A-Za-z][A-Za-z ,.'-]*\)?", inner))


def _has_digit(s: str) -> bool:
    return any(ch.isdigit() for ch in s)


def matching_brace(s: str, open_index: int) -> int:
    """Index of the brace closing the one at ``open_index`` (-1 when unbalanced)."""
    depth = 0
    i = open_index
    while i < len(s):
        ch = s[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _strip_text_commands(s: str) -> str:
    r"""``\text{ or }`` becomes a separator, a one-letter ``\mathrm{d}`` its letter, a word
    before ``=`` a name, units go; ``\text{ percent}`` stays a word (it becomes ``%``)."""
    out: list[str] = []
    pos = 0
    for match in _TEXT_COMMAND.finditer(s):
        if match.start() < pos:
            continue
        end = matching_brace(s, match.end() - 1)
        if end < 0:
            break
        inner = s[match.end() : end].strip()
        out.append(s[pos : match.start()])
        pos = end + 1
        after_number = re.search(r"[\d}]\s*$", s[: match.start()]) is not None
        one_letter = re.fullmatch(r"[A-Za-z]", inner) is not None
        if inner.lower() in _CONNECTIVES:
            out.append(_CONNECTIVES[inner.lower()])
        elif _PERCENT_WORD.fullmatch(inner):
            out.append(" " + inner)
        elif not re.search(r"[A-Za-z]", inner) or (one_letter and not after_number):
            out.append(" " + inner + " ")
        elif not after_number and re.fullmatch(r"[A-Za-z ]+", inner) and _NAMES_VALUE.match(s, pos):
            out.append(" " + inner.replace(" ", "") + " ")  # \text{Total} = 20: a name
        else:
            # A word inside math is a unit or a remark: drop it with any power after it.
            unit_power = re.match(r"\s*\^\s*(\{[^}]*\}|-?\d)", s[pos:])
            if unit_power:
                pos += unit_power.end()
            out.append(" ")
    out.append(s[pos:])
    return "".join(out)


def _brace_command_args(s: str) -> str:
    r"""Give brace-less arguments braces: ``\frac12`` -> ``\frac{1}{2}``."""
    if "\\frac" not in s and "\\sqrt" not in s and "\\binom" not in s:
        return s
    out: list[str] = []
    i = 0
    while i < len(s):
        command = next((c for c in _COMMAND_ARGS if s.startswith(c, i)), None)
        after = i + len(command) if command else 0
        if command is None or (after < len(s) and s[after].isalpha()):
            out.append(s[i])
            i += 1
            continue
        out.append(command)
        i = after
        for _ in range(_COMMAND_ARGS[command]):
            while i < len(s) and s[i] == " ":
                i += 1
            if command == r"\sqrt" and i < len(s) and s[i] == "[":
                close = s.find("]", i)
                if close < 0:
                    break
                out.append(s[i : close + 1])
                i = close + 1
                while i < len(s) and s[i] == " ":
                    i += 1
            if i >= len(s):
                break
            if s[i] == "{":
                end = matching_brace(s, i)
                if end < 0:
                    break
                out.append("{" + _brace_command_args(s[i + 1 : end]) + "}")
                i = end + 1
            elif s[i] == "\\":
                name = re.match(r"\\[a-zA-Z]+", s[i:])
                token = name.group(0) if name else s[i : i + 2]
                out.append("{" + token + "}")
                i += len(token)
            else:
                out.append("{" + s[i] + "}")
                i += 1
    return "".join(out)
