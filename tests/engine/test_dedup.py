"""Dedup: exact and MinHash-LSH near duplicates, kept twins, batch semantics, resume by replay."""

from __future__ import annotations

import random

import msgspec
import numpy as np
import pytest

from engine.decont.text import words
from engine.dedup import Dedup, buckets
from engine.dedup.lsh import optimal_bands
from engine.dedup.minhash import MinHasher
from engine.records import Duplicate, Question
from engine.specs import DedupSpec

VOCAB = [f"w{i}" for i in range(3000)]


def ask(problem: str, qid: str) -> Question:
    return Question(id=qid, domain="math", source="s", problem=problem)


def random_text(rng: random.Random, length: int) -> str:
    return " ".join(rng.choice(VOCAB) for _ in range(length))


def edit(rng: random.Random, text: str, count: int) -> str:
    tokens = text.split()
    for position in rng.sample(range(len(tokens)), count):
        tokens[position] = f"edit{rng.randrange(10**6)}"
    return " ".join(tokens)


def shingle_jaccard(a: str, b: str, k: int = 3) -> float:
    def shingles(text: str) -> set:
        tokens = words(text)
        return {tuple(tokens[i : i + k]) for i in range(len(tokens) - k + 1)}

    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb)


def test_exact_duplicates_ignore_case_and_spacing_but_not_operators():
    dedup = Dedup(DedupSpec())
    assert dedup(ask("Solve x + 1 = 2 for x.", "a")) is None
    assert dedup(ask("solve  x+1=2 FOR x.", "b")) == Duplicate(
        question_id="b", kept_id="a", method="exact", similarity=1.0
    )
    assert dedup(ask("Solve x - 1 = 2 for x.", "c")) is None
    assert dedup(ask("Solve x + 1 = 2 for x.", "d")).kept_id == "a"


def test_near_duplicates_dropped_with_kept_twin_and_far_ones_kept():
    rng = random.Random(5)
    bases = [random_text(rng, 100) for _ in range(200)]
    near = [edit(rng, text, 2) for text in bases[:100]]  # Jaccard about 0.89
    far = [edit(rng, text, 25) for text in bases[100:]]  # Jaccard below 0.4
    assert min(shingle_jaccard(a, b) for a, b in zip(bases, near, strict=False)) > 0.85
    assert max(shingle_jaccard(a, b) for a, b in zip(bases[100:], far, strict=True)) < 0.5
    dedup = Dedup(DedupSpec(near=True, threshold=0.8))
    questions = [ask(t, f"base{i}") for i, t in enumerate(bases)]
    questions += [ask(t, f"near{i}") for i, t in enumerate(near)]
    questions += [ask(t, f"far{i}") for i, t in enumerate(far)]
    verdicts = dedup.batch(questions)
    assert verdicts[:200] == [None] * 200
    caught = [v for v in verdicts[200:300] if v is not None]
    assert len(caught) >= 95  # at Jaccard 0.89 LSH finds 99.8%; estimates rarely fall below 0.8
    assert all(v.kept_id == f"base{v.question_id[4:]}" and v.similarity >= 0.8 for v in caught)
    assert all(v.method == "near" for v in caught)
    assert verdicts[300:] == [None] * 100
    exact_only = Dedup(DedupSpec(near=False))
    assert [v for v in exact_only.batch(questions) if v is not None] == []


def test_batches_see_earlier_members_and_match_one_by_one():
    rng = random.Random(9)
    texts = [random_text(rng, 60) for _ in range(50)]
    stream = []
    for i, text in enumerate(texts):
        stream.append(ask(text, f"t{i}"))
        if i % 3 == 0:
            stream.append(ask(edit(rng, text, 1), f"n{i}"))
        if i % 5 == 0:
            stream.append(ask(text.upper(), f"x{i}"))
    spec = DedupSpec(near=True)
    single = Dedup(spec)
    one_by_one = [single(q) for q in stream]
    batched = Dedup(spec)
    in_batches = [v for i in range(0, len(stream), 17) for v in batched.batch(stream[i : i + 17])]
    assert in_batches == one_by_one
    dropped = {v.question_id for v in one_by_one if v is not None}
    assert {q.id for q in stream if q.id.startswith("x")} <= dropped


def test_resume_by_replaying_kept_questions_gives_the_same_decisions():
    stream = planted_stream(seed=11)
    spec = DedupSpec(near=True)
    uninterrupted = Dedup(spec).batch(stream)
    first = Dedup(spec)
    before = first.batch(stream[:200])
    resumed = Dedup(spec)  # a new process after a crash: only the output shards survive
    resumed.remember(q for q, v in zip(stream[:200], before, strict=True) if v is None)
    after = resumed.batch(stream[200:])
    assert before + after == uninterrupted
    assert sum(v is not None for v in uninterrupted) >= 100


def planted_stream(seed: int) -> list[Question]:
    """300 distinct texts, 100 one-word edits and 50 case changes of them, shuffled."""
    rng = random.Random(seed)
    texts = [random_text(rng, 80) for _ in range(300)]
    texts += [edit(rng, rng.choice(texts), 1) for _ in range(100)]
    texts += [rng.choice(texts).lower() for _ in range(50)]
    rng.shuffle(texts)
    return [ask(t, f"q{i}") for i, t in enumerate(texts)]


def test_buckets_merged_into_sorted_arrays_give_the_same_decisions(monkeypatch):
    stream = planted_stream(seed=4)
    spec = DedupSpec(near=True)
    in_dict = Dedup(spec)
    expected = [v for i in range(0, len(stream), 25) for v in in_dict.batch(stream[i : i + 25])]
    monkeypatch.setattr(buckets, "FLUSH_ENTRIES", 100)  # merge every few batches
    merged = Dedup(spec)
    got = [v for i in range(0, len(stream), 25) for v in merged.batch(stream[i : i + 25])]
    assert got == expected
    assert sum(v is not None for v in got) >= 100


def test_buckets_cap_and_flush():
    store = buckets.Buckets()
    for index in range(buckets.MAX_BUCKET + 10):
        store.add([7, 1000 + index], index)
    assert len(store) == buckets.MAX_BUCKET + (buckets.MAX_BUCKET + 10)  # key 7 is capped
    recent: set[int] = set()
    store.lookup_recent([7], recent)
    assert recent == set(range(buckets.MAX_BUCKET))
    store.flush(force=True)
    recent.clear()
    store.lookup_recent([7, 1003], recent)
    assert recent == set()
    keys = np.array([[7, 1003], [5, 6]], dtype=np.uint64)
    assert store.lookup_sorted(keys) == [[*range(buckets.MAX_BUCKET), 3], []]


def test_texts_without_words_skip_near_dedup_but_not_exact():
    dedup = Dedup(DedupSpec(near=True))
    assert dedup(ask("$$ + $$", "a")) is None
    assert dedup(ask("$$ - $$", "b")) is None
    assert dedup(ask("$$+$$", "c")).kept_id == "a"


def test_minhash_estimates_jaccard_and_is_stable():
    rng = random.Random(2)
    hasher = MinHasher(num_perm=128, shingle=3, seed=1)
    errors = []
    for _ in range(150):
        base = random_text(rng, rng.randint(40, 120))
        other = edit(rng, base, rng.randint(1, 30))
        signatures, has_words = hasher.signatures([base, other])
        assert has_words.all()
        errors.append(float((signatures[0] == signatures[1]).mean()) - shingle_jaccard(base, other))
    assert abs(np.mean(errors)) < 0.02 and np.sqrt(np.mean(np.square(errors))) < 0.06
    texts = [random_text(rng, 30) for _ in range(100)]
    together, _ = MinHasher(128, 3, 1).signatures(texts)
    alone = np.vstack([MinHasher(128, 3, 1).signatures([t])[0] for t in texts[:5]])
    assert (together[:5] == alone).all()  # batching does not change signatures


def test_band_choice_matches_datasketch():
    lsh = pytest.importorskip("datasketch.lsh")
    for threshold in (0.5, 0.7, 0.8, 0.9):
        expected = lsh._optimal_param(threshold, 128, 0.5, 0.5)
        assert optimal_bands(threshold, 128, fn_weight=0.5) == expected


def test_dedup_spec_from_config():
    spec = msgspec.convert({"near": True, "threshold": 0.7, "num_perm": 64}, DedupSpec)
    assert spec.exact and spec.near and spec.shingle == 3
    for bad, message in [({"threshold": 0}, "threshold"), ({"num_perm": 1}, "num_perm")]:
        with pytest.raises(msgspec.ValidationError, match=message):
            msgspec.convert(bad, DedupSpec)
    with pytest.raises(msgspec.ValidationError, match="unknown field `jaccard`"):
        msgspec.convert({"jaccard": 0.5}, DedupSpec)
