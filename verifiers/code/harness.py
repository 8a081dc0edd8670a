"""The harness that runs function-call tests inside the sandbox (stdlib only, imports little:
every test pays for what it imports).

Its source, followed by one ``main(CONFIG)`` line, is the Python program the sandbox runs. Modes:

- ``check``: Python test code (LeetCode's ``check(candidate)``, HumanEval, MBPP asserts) runs in
  the solution's namespace, its asserts rewritten by the host (``verifiers.code.tests``) into
  calls of ``__tm_eq__``/``__tm_true__``, which report the assert's index, the expected and
  actual values of an ``==`` and the assert's own message; a returned object whose class
  (defined by the solution) overrides ``==`` is refused;
- ``call``: one case of call-based tests (LiveCodeBench): ``Solution().fn_name(*args)``, or a
  top-level ``fn_name``, on the case's arguments (one JSON value per line of input); the result
  goes back as JSON and the host compares it, so no object of the solution's is compared here.

stdin starts with a random nonce line, then the case's input; once read, fd 0 becomes /dev/null
(the program cannot read the nonce back). The harness's last line on stdout is the nonce and a
JSON report (``kind``: passed, failed, returned, not_json, raised, not_compiled), so a program
that exits early has no report. The report of an exception names the test it happened in (also
before the test's assert was reached) and carries the traceback without the harness's frames,
showing the solution's and the tests' own lines.
"""

import builtins
import json
import os
import sys

SOLUTION_FILE = "solution.py"
TESTS_FILE = "tests.py"
EXCERPT = 200
TRACEBACK_CHARS = 4000
SHOWN_FRAMES = 100  # the innermost ones (a deep recursion has tens of thousands)


class TestFailed(AssertionError):
    """A test's check did not hold (raised where its assert was)."""

    __test__ = False  # not a pytest test class

    def __init__(self, index, message):
        super().__init__(message)
        self.index = index
        self.message = message


class InTest(Exception):
    """Carries the test an exception happened in (None: outside every test)."""

    def __init__(self, index):
        self.index = index


def _eq(index, got, expected, message):
    got, expected = got(), expected()
    if _own_eq(got):
        _fail(index, f"got a {type(got).__name__} that defines its own ==", message)
    if not (got == expected):  # noqa: SIM201 (an assert's own test: == then truth)
        _fail(index, f"expected {_short(expected)}, got {_short(got)}", message)


def _true(index, test, text, message):
    if not test():
        _fail(index, f"failed: {text[:EXCERPT]}", message)


def _fail(index, what, message):
    if message is not None:
        try:  # noqa: SIM105
            what += f" (assert message: {str(message())[:EXCERPT]})"
        except Exception:
            pass  # a message that cannot be shown is no reason to hide the failure
    raise TestFailed(index, what)


def _own_eq(value):
    for cls in type(value).__mro__:
        if "__eq__" in vars(cls):
            return cls.__module__ == "solution"
    return False


def _short(value):
    text = repr(value)
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def _check(config, namespace, _given):
    namespace.update(__name__="__main__", __tm_eq__=_eq, __tm_true__=_true)
    tests = compile(config["tests"], TESTS_FILE, "exec")
    try:
        exec(tests, namespace)
    except TestFailed as failed:
        return {"kind": "failed", "test": failed.index, "message": failed.message}
    except Exception as error:
        raise InTest(_test_of(error, config["spans"])) from error
    return {"kind": "passed"}


def _call(config, namespace, given):
    name = config["fn_name"]
    owner = namespace.get("Solution")
    if isinstance(owner, type) and hasattr(owner, name):
        function = getattr(owner(), name)
    elif callable(namespace.get(name)):
        function = namespace[name]
    else:
        raise NameError(f"the solution defines neither Solution.{name} nor a function {name}")
    arguments = [json.loads(line) for line in given.split("\n") if line.strip()]
    result = function(*arguments)
    try:
        value = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        return {"kind": "not_json", "type": type(result).__name__}
    return '{"kind": "returned", "value": ' + value + "}"


def _test_of(error, spans):
    """The test an exception belongs to: the assert whose lines hold one of the tests' frames
    (innermost first), else the first assert after the innermost one (the statements that
    feed an assert come before it)."""
    lines, tb = [], error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TESTS_FILE:
            lines.insert(0, tb.tb_lineno)
        tb = tb.tb_next
    for line in lines:
        for index, (first, last) in enumerate(spans):
            if first <= line <= last:
                return index
    for index, (first, _) in enumerate(spans):
        if lines and first > lines[0]:
            return index
    return None


def _user_traceback(error, sources):
    """The traceback of ``error`` (and of its causes) without this harness's frames, showing
    the lines of the code compiled from strings (``sources``: file name -> source)."""
    import linecache  # only here: most runs never fail
    import traceback

    for filename, source in sources.items():
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    formatted = traceback.TracebackException.from_exception(error, limit=-SHOWN_FRAMES)
    seen, pending = set(), [formatted]
    while pending:
        part = pending.pop()
        if id(part) in seen:
            continue
        seen.add(id(part))
        frames = [frame for frame in part.stack if frame.filename != __file__]
        part.stack = traceback.StackSummary.from_list(frames)
        pending += [p for p in (part.__cause__, part.__context__) if p is not None]
        pending += getattr(part, "exceptions", None) or []
    text = "".join(formatted.format())
    if len(text) > TRACEBACK_CHARS:  # the innermost frames and the exception matter most
        text = text[:200] + "\n  ...\n" + text[-(TRACEBACK_CHARS - 200) :]
    return text


def _raised(error, index, sources):
    shown = _user_traceback(error, sources)
    sys.stderr.write(shown)
    kind = type(error)
    exception = kind.__qualname__
    if kind.__module__ not in ("builtins", "__main__", "solution"):
        exception = f"{kind.__module__}.{exception}"
    try:
        said = str(error)
    except Exception:
        said = "(its message cannot be shown)"
    message = f"{exception}: {said}" if said else exception
    return {
        "kind": "raised",
        "exception": exception,
        "message": message.split("\n")[0][:EXCERPT],
        "traceback": shown,
        "test": index,
    }


def _report(nonce, report):
    text = report if isinstance(report, str) else json.dumps(report)
    sys.stdout.write(f"\n{nonce} {text}\n")
    sys.stdout.flush()


MODES = {"check": _check, "call": _call}


def main(config):
    nonce, _, given = sys.stdin.buffer.read().decode(errors="replace").partition("\n")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.stdin = open(0, closefd=False)  # noqa: SIM115 (fd 0 lives as long as the process)
    namespace = {"__name__": "solution", "__builtins__": builtins}
    exec(compile(config["prelude"], "<prelude>", "exec"), namespace)
    try:
        solution = compile(config["solution"], SOLUTION_FILE, "exec")
    except (SyntaxError, ValueError) as error:
        import traceback

        message = "".join(traceback.format_exception_only(error)).strip()
        _report(nonce, {"kind": "not_compiled", "message": message})
        sys.exit(1)
    try:
        exec(solution, namespace)
        report = MODES[config["mode"]](config, namespace, given)
    except Exception as error:
        index = error.index if isinstance(error, InTest) else None
        raised = error.__cause__ if isinstance(error, InTest) else error
        sources = {SOLUTION_FILE: config["solution"], TESTS_FILE: config.get("shown", "")}
        _report(nonce, _raised(raised, index, sources))
        sys.exit(1)
    _report(nonce, report)
