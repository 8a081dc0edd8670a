"""LiveCodeBench test cases as published: decoded without ever unpickling arbitrary objects.

``private_test_cases`` in livecodebench/code_generation_lite is either a JSON string or
base64(zlib(pickle(JSON string))). The pickle is loaded by an unpickler that resolves no global
at all: strings, lists and dicts are built by pickle opcodes alone, so plain data loads and
anything that names a callable (``os.system``, ``builtins.eval``, a class to instantiate) is
refused before it is looked up.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import pickle
import zlib
from typing import Any, Literal

import msgspec

MAX_DECODED_BYTES = 1 << 30  # a zlib bomb stops here instead of filling memory


class TestCaseError(ValueError):
    """Test cases that cannot be decoded or have the wrong shape."""

    __test__ = False  # not a pytest test class


class LcbTest(msgspec.Struct, forbid_unknown_fields=False):
    input: str
    output: str
    testtype: Literal["stdin", "functional"]


class _DataOnly(pickle.Unpickler):
    """Builds str/bytes/numbers/lists/dicts/tuples; refuses every global and persistent id."""

    def find_class(self, module: str, name: str) -> Any:
        raise TestCaseError(f"refused pickle: it names {module}.{name} (only plain data loads)")

    def persistent_load(self, pid: Any) -> Any:
        raise TestCaseError("refused pickle: it uses persistent ids (only plain data loads)")


def load_plain_pickle(data: bytes) -> Any:
    """Unpickle plain data only (see _DataOnly); a pickle naming any callable is refused."""
    try:
        return _DataOnly(io.BytesIO(data)).load()
    except TestCaseError:
        raise
    except Exception as error:  # truncated or corrupt pickles raise many types
        raise TestCaseError(f"unreadable pickle: {type(error).__name__}: {error}") from None


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, MAX_DECODED_BYTES)
    except zlib.error as error:
        raise TestCaseError(f"not zlib data: {error}") from None
    if inflater.unconsumed_tail:
        raise TestCaseError(f"decompresses to more than {MAX_DECODED_BYTES} bytes")
    return out


def decode_test_cases(value: Any) -> list[LcbTest]:
    """Test cases from a JSON string, a list, or base64(zlib(pickle(JSON string)))."""
    if isinstance(value, str):
        text = value.strip()
        if text[:1] != "[":
            try:
                raw = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError) as error:
                raise TestCaseError(f"neither JSON nor base64: {error}") from None
            text = load_plain_pickle(_inflate(raw))
            if not isinstance(text, str):
                raise TestCaseError(f"pickle holds a {type(text).__name__}, expected a JSON string")
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise TestCaseError(f"invalid JSON: {error}") from None
    try:
        return msgspec.convert(value, list[LcbTest])
    except msgspec.ValidationError as error:
        raise TestCaseError(f"unexpected test case shape: {error}") from None


def question_tests(public: Any, private: Any, metadata: Any) -> tuple[Any, str]:
    """(Question.tests, "stdin" | "call") for one problem: stdin cases as
    ``[{"input", "output"}]``; call-based (LeetCode "functional") cases as
    ``{"call": {"fn_name": NAME, "cases": [{"input", "output"}]}}`` where each input holds one
    JSON value per line (the arguments) and each output one JSON value."""
    cases = decode_test_cases(public) + decode_test_cases(private)
    if not cases:
        raise TestCaseError("no test cases")
    kinds = {case.testtype for case in cases}
    if len(kinds) > 1:
        raise TestCaseError("mixed stdin and functional test cases")
    plain = [{"input": case.input, "output": case.output} for case in cases]
    if kinds == {"stdin"}:
        return plain, "stdin"
    if isinstance(metadata, str):
        try:
            metadata = json.loads(metadata or "{}")
        except json.JSONDecodeError as error:
            raise TestCaseError(f"metadata: invalid JSON: {error}") from None
    fn_name = metadata.get("func_name") if isinstance(metadata, dict) else None
    if not isinstance(fn_name, str) or not fn_name:
        raise TestCaseError("functional tests without metadata.func_name")
    return {"call": {"fn_name": fn_name, "cases": plain}}, "call"
