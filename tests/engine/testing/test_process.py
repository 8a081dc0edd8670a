"""mock_teacher_process: the mock as a job's child process, with its answer key written from the
job's questions, its options handed over whole, and no process or temp dir outliving its parent,
even when the parent is SIGKILLed alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import msgspec
import pytest

from engine.prompts import with_options
from engine.records import Question
from engine.testing.options import MockOptions
from engine.testing.process import PREFIX, MockStartError, mock_teacher_process, remove_stale_dirs
from tests.helpers import REPO
from verifiers import mcq
from verifiers.math import verify

QUESTIONS = [
    Question("m1", "math", "s", "What is 3/4 as a decimal?", "0.75"),
    Question("m2", "math", "s", "Solve x^2 = 4 for x > 0.", "2"),
    Question("c1", "science", "s", "Which is a noble gas?", "Argon", choices=["Argon", "Iron"]),
    Question("k1", "code", "s", "Print hello.", metadata={"solution": "print('hello')"}),
    Question("u1", "math", "s", "An open question with no gold."),
]


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Temp dirs (the mock's included) under this test's own folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


async def ask(session: aiohttp.ClientSession, url: str, content: str, seed: int = 0) -> str:
    body = {"model": "m", "messages": [{"role": "user", "content": content}], "seed": seed}
    async with session.post(f"{url}/chat/completions", json=body | {"max_tokens": 4096}) as r:
        return (await r.json())["choices"][0]["message"]["content"]


async def test_the_answer_key_comes_from_the_questions_and_the_options_arrive_whole(private_tmp):
    options = MockOptions(correct_rate=1, replies="realistic", trace_kb=(1, 2), rpm=6000, seed=4)
    async with mock_teacher_process(options, iter(QUESTIONS)) as url:
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        (folder,) = private_tmp.glob(f"{PREFIX}{os.getpid()}-*")
        key = [json.loads(line) for line in (folder / "answer_key.jsonl").read_text().splitlines()]
        assert [row["problem"] for row in key] == [q.problem for q in QUESTIONS[:4]]
        assert key[2]["choices"] == ["Argon", "Iron"] and key[3]["solution"] == "print('hello')"
        async with aiohttp.ClientSession() as session:
            async with session.get(url.removesuffix("/v1") + "/mock/options") as response:
                ran = msgspec.convert(await response.json(), MockOptions)
            assert ran == msgspec.structs.replace(options, answer_key=str(folder / key_name()))
            for seed in range(3):
                assert verify(await ask(session, url, QUESTIONS[0].problem, seed), "0.75").passed
                options_, letter = mcq.shuffle_choices(["Argon", "Iron"], "Argon", seed)
                prompt = with_options(QUESTIONS[2], options_)
                assert mcq.verify(await ask(session, url, prompt, seed), letter).passed
            assert "```python\nprint('hello')\n```" in await ask(session, url, "Print hello.")
    assert not list(private_tmp.glob(f"{PREFIX}*"))  # removed at exit


def key_name() -> str:
    return "answer_key.jsonl"


async def test_a_key_file_is_used_as_given_and_a_bad_one_fails_the_start(private_tmp):
    path = private_tmp / "mine.jsonl"
    path.write_text(json.dumps({"problem": "What is 6 x 7?", "answer": 42}) + "\n")
    options = MockOptions(answer_key=str(path), correct_rate=1)
    async with mock_teacher_process(options) as url, aiohttp.ClientSession() as session:
        assert verify(await ask(session, url, "What is 6 x 7?"), "42").passed
    with pytest.raises(MockStartError, match="did not start"):
        async with mock_teacher_process(MockOptions(answer_key=str(private_tmp / "none"))):
            pass


def test_the_server_exits_when_the_pipe_from_its_parent_closes() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "engine", "mock-teacher", "--port", "0", "--parent-pipe"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )  # fmt: skip
    try:
        child.stdin.write(msgspec.json.encode(MockOptions()) + b"\n")
        child.stdin.flush()
        assert b"http://" in child.stdout.readline()
        assert child.poll() is None
        child.stdin.close()  # what the kernel does to the pipe when the parent dies
        assert child.wait(30) == 0
    finally:
        child.kill()
        child.wait()


# -- SIGKILL of the parent alone (not its group)

PARENT = """
import asyncio, os, sys, time
from engine.testing.options import MockOptions
from engine.testing.process import mock_teacher_process

async def main():
    async with mock_teacher_process(MockOptions(), []) as url:
        if sys.argv[1] == "leak":  # a forked helper keeps a copy of the pipe's write end
            if os.fork() == 0:
                time.sleep(120)
                os._exit(0)
        print(url, flush=True)
        await asyncio.sleep(120)

asyncio.run(main())
"""


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def wait_gone(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive after {timeout}s"
        time.sleep(0.05)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", ["plain", "leak"])
def test_sigkill_of_the_parent_alone_kills_the_mock_and_the_next_start_cleans_up(
    tmp_path, how
) -> None:
    """``plain``: both the pipe and PR_SET_PDEATHSIG end the mock. ``leak``: a forked helper
    keeps the pipe open, so PR_SET_PDEATHSIG alone must end it."""
    env = os.environ | {"TMPDIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, how], cwd=REPO, env=env, stdout=subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    helpers: list[int] = []
    try:
        assert b"http://" in parent.stdout.readline()
        kids = children(parent.pid)
        (mock,) = [k for k in kids if b"mock-teacher" in Path(f"/proc/{k}/cmdline").read_bytes()]
        helpers = [k for k in kids if k != mock]
        assert len(helpers) == (how == "leak")
        stale = list(tmp_path.glob(f"{PREFIX}{parent.pid}-*"))
        assert len(stale) == 1
        os.kill(parent.pid, signal.SIGKILL)  # the parent alone, not its process group
        parent.wait()
        wait_gone(mock)
        assert stale[0].exists()  # nobody was left to remove it...
        assert remove_stale_dirs(tmp_path) == stale  # ...until the next start does
        assert not stale[0].exists()
    finally:
        parent.kill()
        parent.wait()
        for pid in helpers:
            os.kill(pid, signal.SIGKILL)


def test_dirs_of_living_parents_are_kept(tmp_path) -> None:
    mine = tmp_path / f"{PREFIX}{os.getpid()}-abc"
    mine.mkdir()
    (tmp_path / f"{PREFIX}notapid").mkdir()
    assert remove_stale_dirs(tmp_path) == [] and mine.exists()
