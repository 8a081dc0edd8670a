"""Sources: every format read from real files, field mapping, stable ids, errors naming places."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

import engine.sources.json_array as json_array
from engine.records import content_id
from engine.sources import Source, SourceError
from engine.sources.intake import Intake, SeenIds
from engine.specs import FieldMap, SourceSpec
from tests.helpers import DATA, REPO

SHARED = Path(os.environ.get("THOUGHTMILL_SHARED_DATA", REPO.parent / "shared" / "data"))
MATH_FIELDS = FieldMap(problem="question", answer="final", id="uid", metadata=["meta.level"])


def read(path: Path | str, **options) -> list:
    options.setdefault("domain", "math")
    return list(Source(SourceSpec(name=options.pop("name", "src"), path=str(path), **options)))


def test_jsonl_maps_fields_ids_answers_and_metadata():
    questions = read(DATA / "sources_math.jsonl", fields=MATH_FIELDS, tags=["easy"])
    assert [q.id for q in questions] == ["src:m1", "src:m2", "src:m3"]
    assert [q.answer for q in questions] == ["5", "\\frac{3}{4}", "-2, 2"]
    assert questions[1].problem == "Simplify \\frac{6}{8}."
    assert [q.metadata for q in questions] == [{"meta.level": n} for n in (1, 2, 3)]
    assert all(q.domain == "math" and q.source == "src" and q.tags == ["easy"] for q in questions)


def test_ids_derive_from_content_when_the_source_has_none():
    first = read(DATA / "sources_code.json", name="cc", domain="code")
    again = read(DATA / "sources_code.json", name="cc", domain="code")
    assert [q.id for q in first] == [q.id for q in again]
    assert [q.id for q in first] == [content_id("cc", q.problem) for q in first]
    assert len({q.id for q in first}) == 3


def test_json_array_keeps_tests_and_decodes_json_string_tests():
    questions = read(DATA / "sources_code.json", domain="code")
    assert questions[0].tests == [
        {"input": "1 2\n", "output": "3\n"},
        {"input": "5 7\n", "output": "12\n"},
    ]
    assert questions[1].tests == [{"input": "abc\n", "output": "cba\n"}]
    assert questions[1].problem.endswith("«été»).")
    assert questions[2].tests == {
        "functional": "def check(candidate):\n    assert candidate(1, 2) == 2\n"
    }


def test_json_array_streams_identically_with_tiny_chunks(monkeypatch, tmp_path):
    rows = [{"problem": f"p{i} " + "é" * (i % 7), "answer": i * 1.5, "n": 10**i} for i in range(40)]
    path = tmp_path / "rows.json"
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False))
    monkeypatch.setattr(json_array, "CHUNK_BYTES", 5)  # splits numbers and UTF-8 characters
    streamed = [row for _, row in json_array.JsonArrayRows(path)]
    assert streamed == rows
    lines = [line for line, _ in json_array.JsonArrayRows(path)]
    text_lines = path.read_text().splitlines()
    assert all(text_lines[line - 1].strip() == "{" for line in lines)


def test_zstd_jsonl_of_several_frames_reads_like_plain(tmp_path):
    plain = (DATA / "sources_math.jsonl").read_bytes()
    lines = plain.splitlines(keepends=True)
    path = tmp_path / "math.jsonl.zst"
    compressor = zstandard.ZstdCompressor()
    path.write_bytes(b"".join(compressor.compress(line) for line in lines))  # one frame per line
    assert read(path, fields=MATH_FIELDS) == read(DATA / "sources_math.jsonl", fields=MATH_FIELDS)


def test_parquet_streams_row_groups_with_nested_fields(tmp_path):
    table = pa.table(
        {
            "problem": [f"problem {i}" for i in range(25)],
            "info": [{"answer": str(i), "id": f"x{i}"} for i in range(25)],
        }
    )
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=4)
    fields = FieldMap(answer="info.answer", id="info.id")
    questions = read(path, fields=fields)
    assert [q.id for q in questions] == [f"src:x{i}" for i in range(25)]
    assert [q.answer for q in questions] == [str(i) for i in range(25)]


def test_folder_and_glob_read_files_in_sorted_order_and_limit_caps(tmp_path):
    for name in ("b.jsonl", "a.jsonl"):
        (tmp_path / name).write_text(json.dumps({"problem": f"from {name}"}) + "\n")
    (tmp_path / "notes.txt").write_text("ignored")
    by_folder = [q.problem for q in read(tmp_path)]
    assert by_folder == ["from a.jsonl", "from b.jsonl"]
    assert [q.problem for q in read(tmp_path / "*.jsonl")] == by_folder
    assert [q.problem for q in read(tmp_path, limit=1)] == ["from a.jsonl"]


def test_choices_gathered_from_several_fields(tmp_path):
    path = tmp_path / "mcq.jsonl"
    row = {"q": "Pick one", "right": "A", "wrong1": "B", "wrong2": 3}
    path.write_text(json.dumps(row) + "\n")
    fields = FieldMap(problem="q", answer="right", choices=["right", "wrong1", "wrong2"])
    [question] = read(path, domain="science", fields=fields)
    assert question.choices == ["A", "B", "3"] and question.answer == "A"


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("sources_bad_line.jsonl", "sources_bad_line.jsonl, line 3: invalid JSON"),
        ("sources_missing_problem.jsonl", "line 2: missing field 'problem'"),
        ("sources_bad_array.json", "sources_bad_array.json, line 5: invalid JSON"),
    ],
)
def test_bad_rows_name_file_line_and_field(file, message):
    with pytest.raises(SourceError, match=message.replace("(", r"\(")):
        read(DATA / file)


def test_bad_field_types_and_paths_are_named(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps({"problem": "p", "answer": {"nested": 1}}) + "\n")
    with pytest.raises(SourceError, match=r"line 1: field 'answer' must be a string or number"):
        read(path)
    with pytest.raises(SourceError, match=r"line 1: missing field 'uid'"):
        read(path, fields=FieldMap(id="uid"))
    (tmp_path / "data.csv").write_text("problem\nx\n")
    with pytest.raises(SourceError, match=r"data.csv: unknown format"):
        read(tmp_path / "data.csv")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SourceError, match=r"broken.parquet: not a readable Parquet file"):
        read(tmp_path / "broken.parquet")
    (tmp_path / "object.json").write_text('{"problem": "x"}')
    with pytest.raises(SourceError, match=r"object.json, line 1: expected '\['"):
        read(tmp_path / "object.json")
    (tmp_path / "comma.json").write_text('[{"problem": "x"}\n {"problem": "y"}]')
    with pytest.raises(SourceError, match=r"comma.json, line 2: expected ',' or ']', found '\{'"):
        read(tmp_path / "comma.json")


def test_missing_path_errors_unless_optional(tmp_path, caplog):
    with pytest.raises(SourceError, match="source 'src': no data files at"):
        read(tmp_path / "absent.jsonl")
    with caplog.at_level(logging.WARNING):
        assert read(tmp_path / "absent.jsonl", optional=True) == []
    assert "optional source 'src'" in caplog.text


def test_spec_validation_from_config_dicts():
    spec = msgspec.convert(
        {"name": "s", "domain": "code", "path": "x.jsonl", "fields": {"id": "task_id"}},
        SourceSpec,
    )
    assert spec.fields.id == "task_id" and spec.weight == 1.0
    bad = [
        ({"name": "s", "domain": "code", "path": "x", "colour": "red"}, "unknown field `colour`"),
        ({"name": "s", "domain": "code"}, "set path or hf"),
        (
            {"name": "s", "domain": "code", "path": "x", "weight": 0},
            r"Expected `float` > 0.0 - at `\$.weight`",
        ),
        ({"name": "s", "domain": "poetry", "path": "x"}, "Invalid enum value 'poetry'"),
        ({"name": "s", "domain": "code", "path": "x", "fields": {"problme": "q"}}, "problme"),
    ]
    for raw, message in bad:
        with pytest.raises(msgspec.ValidationError, match=message):
            msgspec.convert(raw, SourceSpec)


HF_SCRIPT = """
import json, sys
from engine.sources import Source, SourceError
from engine.sources.intake import Intake, SeenIds
from engine.specs import SourceSpec
def attempt(spec):
    try:
        return [q.problem for q in Source(SourceSpec(**spec))]
    except SourceError as error:
        return {"error": str(error)}
print(json.dumps([attempt(spec) for spec in json.loads(sys.argv[1])]))
"""


def run_hf(specs: list[dict]) -> list:
    """Read sources in a child process with the hub forced offline (no network, ever)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env["PYTHONPATH"] = f"{REPO}{os.pathsep}{env.get('PYTHONPATH', '')}"
    done = subprocess.run(
        [sys.executable, "-c", HF_SCRIPT, json.dumps(specs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_hf_dataset_loads_local_dataset_and_falls_back_offline(tmp_path):
    pytest.importorskip("datasets")
    folder = tmp_path / "hub_copy"
    folder.mkdir()
    rows = "".join(json.dumps({"problem": f"q{i}"}) + "\n" for i in range(3))
    (folder / "train.jsonl").write_text(rows)
    base = {"name": "hub", "domain": "math"}
    local, fallback, failed = run_hf(
        [
            {**base, "hf": str(folder)},
            {**base, "hf": "no-such-org/no-such-set", "path": str(folder / "train.jsonl")},
            {**base, "hf": "no-such-org/no-such-set"},
        ]
    )
    assert local == fallback == ["q0", "q1", "q2"]
    assert "hf:no-such-org/no-such-set[train]: cannot load" in failed["error"]


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared benchmark data not present")
def test_shared_benchmark_files_load_completely():
    expected = {"math/math500.json": 500, "math/aime2024.json": 30, "math/amc.json": 83}
    expected |= {"code/leetcode.json": 200, "code/codeforces.json": 408}
    for file, count in expected.items():
        domain = file.split("/")[0]
        questions = read(SHARED / file, name=file, domain=domain)
        assert len(questions) == count, file
        # Content ids are one per distinct problem text (leetcode repeats some statements).
        assert len({q.id for q in questions}) == len({q.problem.strip() for q in questions})
    math500 = read(SHARED / "math/math500.json", fields=FieldMap(id="unique_id"))
    assert math500[0].id.startswith("src:test/") and math500[0].answer


def test_hf_without_the_datasets_package_reads_the_local_copy_or_says_what_to_install(
    monkeypatch,
):
    monkeypatch.setattr("engine.sources.source.hf_available", lambda: False)
    local = DATA / "sources_math.jsonl"
    spec = SourceSpec(name="s", domain="math", hf="org/set", path=str(local), fields=MATH_FIELDS)
    assert len(list(Source(spec))) == 3
    with pytest.raises(SourceError, match=r"needs the `datasets` package \(pip install datasets\)"):
        list(Source(SourceSpec(name="s", domain="math", hf="org/set")))


def test_counts_match_what_is_read_in_every_format(tmp_path):
    (tmp_path / "folder").mkdir()
    blank_lines = tmp_path / "folder" / "gaps.jsonl"
    blank_lines.write_text('{"problem": "a"}\n\n  \n{"problem": "b"}\n{"problem": "c"}')
    zipped = tmp_path / "math.jsonl.zst"
    zipped.write_bytes(
        zstandard.ZstdCompressor().compress((DATA / "sources_math.jsonl").read_bytes())
    )
    parquet = tmp_path / "folder" / "rows.parquet"
    pq.write_table(pa.table({"problem": [f"p{i}" for i in range(25)]}), parquet, row_group_size=4)
    cases = [(blank_lines, {}), (zipped, {"fields": MATH_FIELDS}), (parquet, {})]
    cases += [(tmp_path / "folder", {})]
    cases += [(DATA / "sources_code.json", {"domain": "code"}), (parquet, {"limit": 7})]
    for path, options in cases:
        spec = SourceSpec(name="src", path=str(path), **{"domain": "math", **options})
        assert Source(spec).count() == len(read(path, **options)) > 0, path


# --- Bad rows, repeated ids, hostile rows (issue 10) -------------------------------------------


def read_with_intake(path: Path, **options) -> tuple[list, list]:
    """(questions, rejected rows) of one source read as a job reads it."""
    options.setdefault("domain", "math")
    intake = Intake()
    source = Source(SourceSpec(name="src", path=str(path), **options), intake)
    questions = list(source)
    return questions, list(intake.drain())


def test_ids_are_normalized_and_a_repeated_id_keeps_its_first_row(tmp_path):
    path = tmp_path / "ids.jsonl"
    rows = [{"id": 1, "problem": "one"}, {"id": "a", "problem": "a"}, {"id": 1.0, "problem": "b"}]
    rows += [{"id": "1", "problem": "c"}, {"id": 1.5, "problem": "d"}]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    questions, rejected = read_with_intake(path, fields=FieldMap(id="id"))
    assert [(q.id, q.problem) for q in questions] == [
        ("src:1", "one"),
        ("src:a", "a"),
        ("src:1.5", "d"),
    ]
    assert [(r.kind, r.reason.id, r.reason.kept, r.reason.row) for r in rejected] == [
        ("repeated_id", "src:1", f"{path}:1", f"{path}:3"),
        ("repeated_id", "src:1", f"{path}:1", f"{path}:4"),
    ]
    assert [r.question.id for r in rejected] == [f"src@{path}:3", f"src@{path}:4"]
    assert [r.question.problem for r in rejected] == ["b", "c"]


def test_ids_that_are_not_strings_or_numbers_are_bad_rows(tmp_path):
    path = tmp_path / "ids.jsonl"
    path.write_text('{"id": true, "problem": "p"}\n{"id": "", "problem": "q"}\n')
    with pytest.raises(SourceError, match=r"line 1: field 'id' must be a string or number, got"):
        read(path, fields=FieldMap(id="id"))
    _, rejected = read_with_intake(path, fields=FieldMap(id="id"), on_bad_row="skip")
    assert [(r.reason.line, r.reason.detail) for r in rejected] == [
        (1, "field 'id' must be a string or number, got bool"),
        (2, "field 'id' is an empty id"),
    ]


def test_repeated_ids_without_an_intake_are_not_checked():
    """Benchmarks (read without an intake) may repeat a problem text; questions may not."""
    problems = [q.problem for q in read(DATA / "sources_math.jsonl", fields=MATH_FIELDS)]
    assert len(problems) == 3


def test_skip_policy_turns_every_kind_of_bad_row_into_a_rejection_and_goes_on(tmp_path):
    path = tmp_path / "rows.jsonl"
    deep = "[" * 5000 + "]" * 5000
    lines = [
        '{"problem": "first"}',
        '{"problem": "broken',
        '{"answer": "no problem field"}',
        '{"problem": "p", "tests": ' + deep + "}",
        '{"problem": "p", "tests": ' + "[" * 100 + "]" * 100 + "}",  # decodes, too deep to keep
        "[1, 2]",
        '{"problem": "last"}',
    ]
    path.write_text("\n".join(lines) + "\n")
    questions, rejected = read_with_intake(path, on_bad_row="skip")
    assert [q.problem for q in questions] == ["first", "last"]
    assert [(r.kind, r.reason.file, r.reason.line) for r in rejected] == [
        ("bad_row", str(path), line) for line in (2, 3, 4, 5, 6)
    ]
    details = [r.reason.detail for r in rejected]
    assert details[0].startswith("invalid JSON")
    assert details[1:] == [
        "missing field 'problem'",
        "invalid JSON: nested too deeply to decode",
        "field 'tests' nests deeper than 64 levels",
        "row must be an object, got list",
    ]
    assert all(r.question.id == f"src@{path}:{r.reason.line}" for r in rejected)
    with pytest.raises(SourceError, match=r"rows.jsonl, line 2: invalid JSON"):
        read(path)  # the default policy is error


def test_deeply_nested_rows_are_bad_rows_in_json_arrays_too(tmp_path):
    path = tmp_path / "rows.json"
    deep = "[" * 5000 + '"]]]"' + "]" * 5000
    path.write_text(
        f'[{{"problem": "a"}},\n {{"problem": "b", "x": {deep}}},\n {{"problem": "c"}}]'
    )
    with pytest.raises(SourceError, match=r"rows.json, line 2: invalid JSON: nested too deeply"):
        read(path)
    questions, rejected = read_with_intake(path, on_bad_row="skip")
    assert [q.problem for q in questions] == ["a", "c"]
    assert [(r.reason.line, r.reason.detail) for r in rejected] == [
        (2, "invalid JSON: nested too deeply to decode")
    ]


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_rows_longer_than_max_row_bytes_are_bad_rows_read_past(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(json_array, "CHUNK_BYTES", 4096)  # the huge row spans many windows
    huge = {"problem": "huge " + 'x"{[' * 500_000}  # 2 MB of brackets and quotes in a string
    rows = [{"problem": "before"}, huge, {"problem": "after"}]
    path = tmp_path / f"rows{suffix}"
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    else:
        path.write_text("[" + ",\n".join(json.dumps(row) for row in rows) + "]")
    questions, rejected = read_with_intake(path, on_bad_row="skip", max_row_bytes=1 << 20)
    assert [q.problem for q in questions] == ["before", "after"]
    [bad] = rejected
    assert bad.reason.line == 2 and "longer than max_row_bytes (1048576)" in bad.reason.detail
    # under the limit (the default is 64 MiB) the multi-MB row is a question like any other
    assert [q.problem[:4] for q in read(path)] == ["befo", "huge", "afte"]


def test_a_jsonl_file_starting_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"problem": "a"}\n{"problem": "b"}\n')
    assert [q.problem for q in read(path)] == ["a", "b"]
    assert Source(SourceSpec(name="s", domain="math", path=str(path))).count() == 2
    zipped = tmp_path / "bom.jsonl.zst"
    zipped.write_bytes(zstandard.ZstdCompressor().compress(path.read_bytes()))
    assert [q.problem for q in read(zipped)] == ["a", "b"]


def test_unreadable_files_are_source_errors_not_crashes(tmp_path):
    broken = tmp_path / "broken.jsonl.zst"
    rows = b"".join(b'{"problem": "%d"}\n' % i for i in range(2000))
    frame = bytearray(zstandard.ZstdCompressor(write_checksum=True).compress(rows))
    frame[len(frame) // 2 : len(frame) // 2 + 16] = bytes(16)  # damage inside the frame
    broken.write_bytes(frame)
    with pytest.raises(SourceError, match=r"broken.jsonl.zst: cannot read:"):
        read(broken)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'[{"problem": "caf\xe9"}]')
    with pytest.raises(SourceError, match=r"latin.json: cannot read:"):
        read(latin)


def test_seen_ids_stay_small_and_exact():
    """The job-wide id check holds at most 48 bytes an id (16 a slot, at least 1/3 full):
    33.5 MB at a million ids, where a dict of the same hashes takes about 110 MB."""
    seen, count = SeenIds(), 150_000
    keys = [(i * 0x9E3779B97F4A7C15) % (1 << 64) or 1 for i in range(count)]
    keys += [1 << 20 | 5, 2 << 20 | 5, 3 << 20 | 5]  # the same slot: probing must tell them apart
    assert all(seen.setdefault(key, i) is None for i, key in enumerate(keys))
    assert seen.size == len(keys) and seen.nbytes <= 48 * len(keys)
    assert [seen.setdefault(keys[i], -1 % (1 << 64)) for i in (0, 77_777, -3, -2, -1)] == [
        0,
        77_777,
        len(keys) - 3,
        len(keys) - 2,
        len(keys) - 1,
    ]
