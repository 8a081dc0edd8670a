"""Parse a normalized answer (LaTeX or plain text) into a small immutable tree.

Nodes are tuples tagged by their first item, so they hash (for caches) and pickle cheaply:

    ("num", Fraction)  ("sym", name)  ("const", "pi"|"e"|"i"|"inf")  ("based", digits, base)
    ("add", terms)  ("mul", factors)  ("neg", x)  ("div", a, b)  ("pow", a, b)  ("root", x, n)
    ("fn", name, args)  ("apply", name, args)  ("pm", a, b)  ("percent", x)  ("text", key)
    ("tuple", open, close, items)  ("set", items)  ("list", items)  ("union", items)
    ("matrix", rows)  ("ratio", terms)  ("eq", lhs, rhs)  ("rel", ops, operands)

``a \\pm b`` answers become a ``list`` of both values; ``x = 5`` an ``eq`` and a chain
``y = 2+3+4 = 9`` the ``eq`` of its first and last sides; ``x \\in S`` becomes ``S``.
Inequalities that are linear in one variable (or function value, ``0<g(t)<2``), with
``|...|`` around it or not, become intervals (2-item tuples with their brackets) or unions:
``-y > -3`` is (-inf, 3), ``2 \\le |w| \\le 5`` is [-5, -2] U [2, 5].
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction
from functools import lru_cache

from verifiers.math.normalize import is_text_answer, normalize, text_key

Node = tuple

ZERO: Node = ("num", Fraction(0))
ONE: Node = ("num", Fraction(1))
HALF: Node = ("num", Fraction(1, 2))
INF: Node = ("const", "inf")

MAX_ANSWER_CHARS = 2000
_MAX_PM_VARIANTS = 8


class ParseError(ValueError):
    """The answer is not math this parser understands."""


_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<begin>\\begin\s*\{\s*([a-zA-Z]+\*?)\s*\}(?:\s*\{[a-z|]*\})?)
    |(?P<end>\\end\s*\{\s*([a-zA-Z]+\*?)\s*\})
    |(?P<opname>\\operatorname\s*\{\s*([a-zA-Z]+)\s*\})
    |(?P<rowsep>\\\\)
    |(?P<cmd>\\[a-zA-Z]+|\\[{}|])
    |(?P<num>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+(?![\d.]))?)
    |(?P<word>[A-Za-z]+)
    |(?P<op>\*\*|<=|>=|!=|[-+*/^_()\[\]{},;|!'=<>&%:])""",
    re.VERBOSE,
)

FUNCTIONS = {
    "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "arccot": "acot",
    "asin": "asin", "acos": "acos", "atan": "atan",
    "sinh": "sinh", "cosh": "cosh", "tanh": "tanh",
    "log": "log", "ln": "log", "lg": "log10", "exp": "exp", "sqrt": "sqrt",
    "abs": "abs", "floor": "floor", "ceil": "ceil",
    "max": "max", "min": "min", "gcd": "gcd", "lcm": "lcm",
}  # fmt: skip
_CONSTANT_WORDS = {"pi": ("const", "pi"), "inf": INF, "infty": INF, "infinity": INF, "oo": INF}
_SEPARATOR_WORDS = {"or", "and"}
_SPLIT_WORDS = [*sorted((w for w in FUNCTIONS if len(w) > 1), key=len, reverse=True), "pi"]
_RELATIONS = {
    "=": "=", "<": "<", ">": ">", "<=": "<=", ">=": ">=", "!=": "!=",
    r"\le": "<=", r"\ge": ">=", r"\lt": "<", r"\gt": ">", r"\ne": "!=",
    r"\approx": "=", r"\in": "in", r"\equiv": "=",
}  # fmt: skip
_ACCENTS = {"dot", "ddot", "hat", "bar", "vec", "tilde", "overline"}
# Letters that name a function when a parenthesis follows: f(x), u(t), P(x).
_APPLY_LETTERS = set("fghuFGHIPQN")
_CLOSERS = {")", "]", "}", r"\}", r"\rfloor", r"\rceil", "&", r"\\", "end", "eof"}


def tokenize(text: str) -> list[tuple[str, str]]:
    """(kind, text) tokens; kinds are num, word, cmd, op, begin, end, rowsep."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            raise ParseError(f"unexpected character {text[pos]!r} at {pos}")
        pos = match.end()
        kind = match.lastgroup
        if kind == "space":
            continue
        if kind == "begin":
            tokens.append(("begin", match.group(3)))
        elif kind == "end":
            tokens.append(("end", match.group(5)))
        elif kind == "opname":
            tokens.append(("cmd", "\\" + match.group(7)))
        elif kind == "word":
            tokens.extend(("word", w) for w in _split_word(match.group(0)))
        elif kind == "op":
            op = match.group(0)
            tokens.append(("op", "^" if op == "**" else op))
        else:
            tokens.append((kind, match.group(0)))
    return tokens


def _split_word(word: str) -> list[str]:
    """``cosx`` -> cos, x; ``xy`` -> x, y; known words stay whole."""
    lower = word.lower()
    if lower in FUNCTIONS or lower in _CONSTANT_WORDS or lower in _SEPARATOR_WORDS:
        return [lower]
    parts: list[str] = []
    i = 0
    while i < len(word):
        known = next((w for w in _SPLIT_WORDS if word.startswith(w, i)), None)
        parts.append(known or word[i])
        i += len(known) if known else 1
    return parts


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.pos = 0
        self.abs_depth = 0

    # -- token helpers --------------------------------------------------------------------
    def peek(self, ahead: int = 0) -> tuple[str, str]:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else ("eof", "")

    def at(self, *texts: str) -> bool:
        kind, text = self.peek()
        return kind != "num" and text in texts

    def take(self) -> tuple[str, str]:
        token = self.peek()
        self.pos += 1
        return token

    def expect(self, *texts: str) -> str:
        kind, text = self.take()
        if text not in texts or kind == "num":
            raise ParseError(f"expected {' or '.join(texts)}, found {text or 'end'!r}")
        return text

    def starts_operand(self) -> bool:
        kind, text = self.peek()
        if kind in ("num", "begin"):
            return True
        if kind == "word":
            return text not in _SEPARATOR_WORDS
        if kind == "cmd":
            return text not in _RELATIONS and text not in {
                r"\cup",
                r"\pm",
                r"\mp",
                r"\rfloor",
                r"\rceil",
                r"\}",
                r"\cap",
                r"\to",
            }
        if text == "|":
            return self.abs_depth == 0
        return text in ("(", "[", "{")

    # -- grammar --------------------------------------------------------------------------
    def parse_list(self) -> list[Node]:
        items = [self.parse_union()]
        while self.at(",", ";", "or", "and"):
            self.take()
            if self.peek()[0] == "eof" or self.at(*_CLOSERS):
                break
            items.append(self.parse_union())
        return items

    def parse_union(self) -> Node:
        parts = [self.parse_relation()]
        while self.at(r"\cup"):
            self.take()
            parts.append(self.parse_relation())
        return ("union", tuple(parts)) if len(parts) > 1 else parts[0]

    def parse_relation(self) -> Node:
        operands = [self.parse_ratio()]
        ops: list[str] = []
        while self.peek()[0] != "num" and self.peek()[1] in _RELATIONS:
            op = _RELATIONS[self.take()[1]]
            ops.append(op)
            operands.append(self.parse_union() if op == "in" else self.parse_ratio())
        if not ops:
            return operands[0]
        return ("rel", tuple(ops), tuple(operands))

    def parse_ratio(self) -> Node:
        """``5:13`` (and ``S_1:S_2``): an ordered ratio of two or more terms."""
        terms = [self.parse_sum()]
        while self.at(":"):
            self.take()
            terms.append(self.parse_sum())
        return ("ratio", tuple(terms)) if len(terms) > 1 else terms[0]

    def parse_sum(self) -> Node:
        terms = [self.parse_term()]
        while self.at("+", "-", r"\pm", r"\mp"):
            op = self.take()[1]
            term = self.parse_term()
            if op == "+":
                terms.append(term)
            elif op == "-":
                terms.append(("neg", term))
            else:
                terms = [("pm", make_add(terms), term)]
        return make_add(terms)

    def parse_term(self) -> Node:
        factors = [self.parse_unary()]
        while True:
            if self.at("*", "/"):
                op = self.take()[1]
                operand = self.parse_unary()
                if op == "*":
                    factors.append(operand)
                else:
                    factors = [("div", make_mul(factors), operand)]
            elif self.starts_operand():
                operand = self.parse_power()
                mixed = _mixed_number(factors, operand)
                factors = [mixed] if mixed is not None else [*factors, operand]
            else:
                return make_mul(factors)

    def parse_unary(self) -> Node:
        if self.at("-"):
            self.take()
            return ("neg", self.parse_unary())
        if self.at("+"):
            self.take()
            return self.parse_unary()
        if self.at(r"\pm", r"\mp"):
            self.take()
            return ("pm", ZERO, self.parse_unary())
        return self.parse_power()

    def parse_power(self) -> Node:
        base = self.parse_postfix()
        if self.at("^"):
            self.take()
            return ("pow", base, self.parse_unary())
        return base

    def parse_postfix(self) -> Node:
        node = self.parse_primary()
        while self.at("!", "%", "'"):
            op = self.take()[1]
            if op == "!":
                node = ("fn", "factorial", (node,))
            elif op == "%":
                node = ("percent", node)
            elif node[0] == "sym":
                node = ("sym", node[1] + "'")
            else:
                raise ParseError("a prime mark must follow a variable")
        return node

    def parse_primary(self) -> Node:
        kind, text = self.take()
        if kind == "num":
            return self.parse_number(text)
        if kind == "begin":
            return self.parse_matrix(text)
        if kind == "word":
            return self.parse_word(text)
        if kind == "cmd":
            return self.parse_command(text)
        if text in ("(", "["):
            return self.parse_group(text)
        if text == "{":
            items = self.parse_list()
            self.expect("}")
            return items[0] if len(items) == 1 else ("set", tuple(items))
        if text == "|":
            self.abs_depth += 1
            inner = self.parse_sum()
            self.abs_depth -= 1
            self.expect("|")
            return ("fn", "abs", (inner,))
        raise ParseError(f"unexpected {text or 'end of answer'!r}")

    def parse_number(self, text: str) -> Node:
        if self.at("_") and self.peek(1)[0] in ("num", "op"):
            self.take()
            base = self.parse_subscript()
            return ("based", text, base)
        return ("num", Fraction(text))

    def parse_subscript(self) -> str:
        """Raw text of a subscript: ``_1``, ``_{10}``, ``_{\\max}``."""
        if not self.at("{"):
            return self.take()[1].lstrip("\\")
        self.take()
        parts: list[str] = []
        depth = 1
        while True:
            kind, text = self.take()
            if kind == "eof":
                raise ParseError("unclosed subscript")
            depth += text == "{" and kind == "op"
            depth -= text == "}" and kind == "op"
            if depth == 0:
                return "".join(parts)
            parts.append(text.lstrip("\\"))

    def parse_group(self, opener: str) -> Node:
        items = self.parse_list()
        closer = self.expect(")", "]")
        if len(items) == 1:
            if (opener, closer) not in (("(", ")"), ("[", "]")):
                raise ParseError(f"unbalanced {opener}...{closer}")
            return items[0]
        return ("tuple", opener, closer, tuple(items))

    def parse_braced(self) -> Node:
        self.expect("{")
        items = self.parse_list()
        self.expect("}")
        if len(items) != 1:
            raise ParseError("a command argument holds one expression")
        return items[0]

    def parse_word(self, word: str) -> Node:
        if word in FUNCTIONS:
            return self.parse_function(FUNCTIONS[word])
        if word in _CONSTANT_WORDS:
            return _CONSTANT_WORDS[word]
        if word == "e":
            return ("const", "e")
        if word == "i":
            return ("const", "i")
        return self.parse_symbol(word)

    def parse_symbol(self, name: str) -> Node:
        if self.at("_"):
            self.take()
            name = f"{name}_{self.parse_subscript()}"
        if name in _APPLY_LETTERS and self.at("("):
            self.take()
            args = self.parse_list()
            self.expect(")")
            return ("apply", name, tuple(args))
        return ("sym", name)

    def parse_command(self, command: str) -> Node:
        name = command[1:]
        if name == "frac":
            return ("div", self.parse_braced(), self.parse_braced())
        if name == "sqrt":
            if self.at("["):
                self.take()
                index = self.parse_sum()
                self.expect("]")
                return ("root", self.parse_braced(), index)
            return ("pow", self.parse_braced(), HALF)
        if name == "binom":
            return ("fn", "binom", (self.parse_braced(), self.parse_braced()))
        if name in ("lfloor", "lceil"):
            inner = self.parse_sum()
            self.expect(r"\rfloor" if name == "lfloor" else r"\rceil")
            return ("fn", name[1:], (inner,))
        if name == "{":
            items = self.parse_list() if not self.at(r"\}") else []
            self.expect(r"\}")
            return ("set", tuple(items))
        if name == "emptyset":
            return ("set", ())
        if name == "pi":
            return ("const", "pi")
        if name == "infty":
            return INF
        if name in FUNCTIONS:
            return self.parse_function(FUNCTIONS[name])
        if name in _ACCENTS:  # \\vec{v}, \\overline{AB}: one name
            inner = self.parse_braced()
            letters = inner[1] if inner[0] == "mul" else (inner,)
            if any(letter[0] != "sym" for letter in letters):
                raise ParseError(f"{command} must decorate a variable")
            return self.parse_symbol(f"{name}({''.join(letter[1] for letter in letters)})")
        if name in ("text", "mathbb", "end", "mbox") or not name.isalpha():
            raise ParseError(f"unsupported command {command}")
        return self.parse_symbol(name)

    def parse_function(self, name: str) -> Node:
        power = None
        base = None
        for _ in range(2):
            if self.at("^") and power is None:
                self.take()
                power = self.parse_unary()
            elif self.at("_") and name == "log" and base is None:
                self.take()
                base = self.parse_braced() if self.at("{") else self.parse_primary()
        if self.at("("):
            self.take()
            args = tuple(self.parse_list())
            self.expect(")")
        elif self.at("{"):
            args = (self.parse_braced(),)
        else:
            args = (self.parse_function_argument(),)
        node = _function_node(name, args, base)
        return ("pow", node, power) if power is not None else node

    def parse_function_argument(self) -> Node:
        """``\\sin 2x`` takes ``2x``; the argument stops at the next function or operator."""
        factors = [self.parse_power()]
        while self.starts_operand() and not self.at("(") and not self._at_function():
            factors.append(self.parse_power())
        return make_mul(factors)

    def _at_function(self) -> bool:
        kind, text = self.peek()
        name = text[1:] if kind == "cmd" else text
        return kind in ("cmd", "word") and name in FUNCTIONS

    def parse_matrix(self, environment: str) -> Node:
        rows: list[tuple[Node, ...]] = []
        row: list[Node] = []
        while True:
            if self.peek()[0] == "end":
                self.take()
                break
            if self.peek()[0] == "eof":
                raise ParseError(f"unclosed {environment}")
            row.append(self.parse_sum())
            kind, text = self.take()
            if kind == "end":
                break
            if kind == "rowsep":
                rows.append(tuple(row))
                row = []
            elif text != "&":
                raise ParseError(f"unexpected {text!r} in {environment}")
        if row:
            rows.append(tuple(row))
        if not rows or len({len(r) for r in rows}) != 1:
            raise ParseError(f"ragged {environment}")
        return ("matrix", tuple(rows))


def _function_node(name: str, args: tuple[Node, ...], base: Node | None) -> Node:
    if name == "sqrt":
        return ("pow", _single(name, args), HALF)
    if name == "exp":
        return ("pow", ("const", "e"), _single(name, args))
    if name == "log10":
        return ("fn", "log", (_single(name, args), ("num", Fraction(10))))
    if name == "log" and base is not None:
        return ("fn", "log", (_single(name, args), base))
    if name in ("max", "min", "gcd", "lcm"):
        if len(args) == 1 and args[0][0] == "tuple":
            args = args[0][3]
        return ("fn", name, args)
    return ("fn", name, (_single(name, args),))


def _single(name: str, args: tuple[Node, ...]) -> Node:
    if len(args) != 1:
        raise ParseError(f"{name} takes one argument")
    return args[0]


def _mixed_number(factors: list[Node], operand: Node) -> Node | None:
    """``1\\frac{4}{5}`` is 9/5 (a mixed number), not 4/5."""
    if len(factors) != 1 or operand[0] != "div":
        return None
    whole = factors[0][1] if factors[0][0] == "neg" else factors[0]
    if not all(_is_integer(n) for n in (whole, operand[1], operand[2])):
        return None
    total = ("add", (whole, operand))
    return ("neg", total) if factors[0][0] == "neg" else total


def _is_integer(node: Node) -> bool:
    return node[0] == "num" and node[1].denominator == 1


def make_add(terms: list[Node]) -> Node:
    return terms[0] if len(terms) == 1 else ("add", tuple(terms))


def make_mul(factors: list[Node]) -> Node:
    return factors[0] if len(factors) == 1 else ("mul", tuple(factors))


# -- answer structure -----------------------------------------------------------------------


@lru_cache(maxsize=16384)
def parse_answer(raw: str) -> Node:
    """The tree of an extracted answer; raises ParseError when it is not parseable math."""
    if raw.isascii() and raw.isdigit() and len(raw) <= MAX_ANSWER_CHARS:
        return ("num", Fraction(int(raw)))  # the most common answer, without the parser
    return _parse(raw)


def _parse(raw: str) -> Node:
    if is_text_answer(raw):
        return ("text", text_key(raw))
    text = normalize(raw)
    if not text:
        raise ParseError("empty answer")
    if len(text) > MAX_ANSWER_CHARS:
        raise ParseError(f"answer longer than {MAX_ANSWER_CHARS} characters")
    parser = _Parser(tokenize(text))
    try:
        items = parser.parse_list()
    except RecursionError as error:
        raise ParseError("answer nested too deeply") from error
    if parser.peek()[0] != "eof":
        raise ParseError(f"unexpected {parser.peek()[1]!r} after the answer")
    has_pm = r"\pm" in text or r"\mp" in text
    answers = [shaped for item in items for shaped in _shape_item(item, has_pm)]
    if len(answers) == 1:
        return answers[0]
    if _OR.search(text) and not _AND.search(text) and all(map(_is_solved, items, answers)):
        return ("union", tuple(answers))  # x < -1 or x > 2
    return ("list", tuple(answers))


_OR = re.compile(r"\bor\b")
_AND = re.compile(r"\band\b")


def _is_solved(item: Node, answer: Node) -> bool:
    """True when an inequality item became an interval."""
    return item[0] == "rel" and answer[0] in ("tuple", "union")


def _shape_item(node: Node, has_pm: bool) -> list[Node]:
    """One top-level item as answers: ± expanded, relations made equations or intervals."""
    variants = expand_pm(node) if has_pm else [node]
    if len(variants) > _MAX_PM_VARIANTS:
        raise ParseError("too many ± choices")
    return [_shape_relation(variant) for variant in variants]


def expand_pm(node: Node) -> list[Node]:
    """Every sign choice of the ``\\pm`` in a tree (the tree itself when it has none)."""
    if node[0] == "pm":
        return [
            make_add([a, b if sign > 0 else ("neg", b)])
            for sign in (1, -1)
            for a in expand_pm(node[1])
            for b in expand_pm(node[2])
        ]
    if node[0] == "set":
        return [("set", tuple(v for item in node[1] for v in expand_pm(item)))]
    return [(node[0], *combo) for combo in itertools.product(*map(_variants, node[1:]))]


def _variants(part: object) -> list:
    if not isinstance(part, tuple):
        return [part]
    if part and isinstance(part[0], str):
        return expand_pm(part)
    return [tuple(combo) for combo in itertools.product(*map(_variants, part))]


def _shape_relation(node: Node) -> Node:
    if node[0] != "rel":
        return node
    ops, operands = node[1], node[2]
    if all(op == "=" for op in ops):
        return ("eq", operands[0], operands[-1])
    if ops == ("in",):
        return operands[1]
    interval = _solve(ops, operands)
    return interval if interval is not None else node


_OPEN = {"<": "(", "<=": "["}
_CLOSE = {"<": ")", "<=": "]"}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}
_UPPER = ("<", "<=")
Bound = tuple[Node, str, Node]  # (variable, op, bound): ``x < 3``


def _solve(ops: tuple[str, ...], operands: tuple[Node, ...]) -> Node | None:
    """The interval (or union) a one-variable inequality or chain describes; None if not."""
    if any(op not in _FLIP for op in ops):
        return None
    if len(ops) == 1:
        left, right = operands
        op = ops[0]
        if not _has_variable(left):
            op, left, right = _FLIP[op], right, left
        if _has_variable(right):
            return None
        if left[0] == "fn" and left[1] == "abs":
            return (
                _abs_outside(left[2][0], op, right)
                if op not in _UPPER
                else (_between(("neg", right), op, left[2][0], op, right))
            )
        solved = _isolate(left, op, right)
        return _ray(solved) if solved is not None else None
    if len(ops) != 2 or len({op in _UPPER for op in ops}) != 1:
        return None
    low, middle, high = operands
    low_op, high_op = ops
    if ops[0] not in _UPPER:  # 5 > x > 2 is 2 < x < 5
        low, high, low_op, high_op = high, low, _FLIP[high_op], _FLIP[low_op]
    if _has_variable(low) or _has_variable(high):
        return None
    if middle[0] == "fn" and middle[1] == "abs" and _nonnegative(low):
        inner = middle[2][0]
        parts = (
            _between(("neg", high), high_op, inner, low_op, ("neg", low)),
            _between(low, low_op, inner, high_op, high),
        )
        return ("union", parts) if None not in parts else None  # type: ignore[return-value]
    return _between(low, low_op, middle, high_op, high)


def _between(low: Node, low_op: str, middle: Node, high_op: str, high: Node) -> Node | None:
    """``low < middle < high`` solved for the variable in ``middle``."""
    upper = _isolate(middle, high_op, high)
    lower = _isolate(middle, _FLIP[low_op], low)
    if upper is None or lower is None or upper[0] != lower[0]:
        return None
    if upper[1] not in _UPPER:  # a negative factor flipped both
        upper, lower = lower, upper
    return ("tuple", _OPEN[_FLIP[lower[1]]], _CLOSE[upper[1]], (lower[2], upper[2]))


def _abs_outside(inner: Node, op: str, bound: Node) -> Node | None:
    """``|x - 1| > 2``: x < -1 or x > 3."""
    if not _nonnegative(bound):
        return None
    below = _isolate(inner, _FLIP[op], ("neg", bound))
    above = _isolate(inner, op, bound)
    if below is None or above is None:
        return None
    return ("union", (_ray(below), _ray(above)))


def _ray(solved: Bound) -> Node:
    _, op, bound = solved
    if op in _UPPER:
        return ("tuple", "(", _CLOSE[op], (("neg", INF), bound))
    return ("tuple", _OPEN[_FLIP[op]], ")", (bound, INF))


def _isolate(expression: Node, op: str, bound: Node) -> Bound | None:
    """``expression op bound`` rewritten as ``variable op' bound'`` when the expression is
    linear in its one variable with rational coefficients; None otherwise."""
    while not _is_variable(expression):
        tag = expression[0]
        if tag == "neg":
            expression, op, bound = expression[1], _FLIP[op], ("neg", bound)
        elif tag in ("add", "mul"):
            varying = [part for part in expression[1] if _has_variable(part)]
            if len(varying) != 1:
                return None
            rest = tuple(part for part in expression[1] if part is not varying[0])
            if tag == "add":
                bound = make_add([bound, *(("neg", part) for part in rest)])
            else:
                factor = _rational(make_mul(list(rest)))
                if not factor:
                    return None
                bound = ("div", bound, ("num", factor))
                op = _FLIP[op] if factor < 0 else op
            expression = varying[0]
        elif tag == "div" and not _has_variable(expression[2]):
            divisor = _rational(expression[2])
            if not divisor:
                return None
            expression, bound = expression[1], ("mul", (bound, ("num", divisor)))
            op = _FLIP[op] if divisor < 0 else op
        else:
            return None
    return expression, op, bound


def _rational(node: Node) -> Fraction | None:
    if node[0] == "num":
        return node[1]
    if node[0] == "neg" and node[1][0] == "num":
        return -node[1][1]
    if node[0] == "div" and node[1][0] == node[2][0] == "num" and node[2][1]:
        return node[1][1] / node[2][1]
    return None


def _nonnegative(node: Node) -> bool:
    value = _rational(node)
    return value is not None and value >= 0


def _is_variable(node: Node) -> bool:
    return node[0] in ("sym", "apply")


def _has_variable(node: object) -> bool:
    if not isinstance(node, tuple) or not node:
        return False
    if node[0] in ("sym", "apply"):
        return True
    return any(_has_variable(part) for part in node)
