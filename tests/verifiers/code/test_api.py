"""The direct program API and the isolation guard: ``verify_program`` takes source code and
tests (no response to parse); ``open_pool("auto")`` says which backend it chose and why; the
code verifier refuses a backend that does not isolate programs unless told it may."""

from __future__ import annotations

import warnings

import pytest

from sandbox import BackendChoice, Limits, Pool, Program, open_pool
from tests.helpers import docker_problem
from verifiers.code import CodeVerifier, LocalSandboxRefused

pytestmark = pytest.mark.asyncio(loop_scope="session")

LIMITS = Limits(time_s=5, wall_s=30)  # generous: a loaded machine is no wrong answer
SUM = [{"input": "1 2\n", "output": "3\n"}, {"input": "5 5\n", "output": "10\n"}]
SUM_PY = Program("python", "a, b = map(int, input().split())\nprint(a + b)")
SUM_CPP = Program(
    "cpp", "#include <iostream>\nint main() { long a, b; std::cin >> a >> b; std::cout << a + b; }"
)


@pytest.mark.docker
async def test_verify_program_with_every_test_layout(docker_pool: Pool) -> None:
    verifier = CodeVerifier(docker_pool, limits=LIMITS)
    for program in (SUM_PY, SUM_CPP):
        verdict = await verifier.verify_program(program, SUM)
        assert (verdict.status, verdict.answer) == ("passed", program.source), verdict
        assert verdict.method == f"program:{program.language}"
    columns = {"inputs": ["1 2\n"], "outputs": ["4\n"]}
    wrong = await verifier.verify_program(SUM_PY, columns)
    assert (wrong.status, wrong.test_index) == ("wrong_answer", 0)
    add = Program("python", "def add(a, b):\n    return a + b\n")
    assert (await verifier.verify_program(add, "assert add(1, 2) == 3")).passed
    call = {"call": {"fn_name": "add", "cases": [{"input": "1\n2", "output": "3"}]}}
    assert (await verifier.verify_program(add, call)).passed
    # a program is run as given: a fenced block is not unwrapped
    fenced = Program("python", f"```python\n{SUM_PY.source}\n```")
    assert (await verifier.verify_program(fenced, SUM)).status == "compile_error"


@pytest.mark.docker
async def test_auto_chooses_docker_and_says_so() -> None:
    if (problem := docker_problem()) is not None:
        pytest.skip(problem)
    async with open_pool("auto", 1) as pool:
        choice = pool.choice
        assert choice is not None
        assert (choice.requested, choice.backend, choice.isolated) == ("auto", "docker", True)
        assert choice.reason.startswith("auto: Docker engine ") and choice.reason.endswith(
            " answers"
        )
        assert (await CodeVerifier(pool).verify_program(SUM_PY, SUM)).passed


async def test_auto_without_docker_falls_back_to_local_and_the_verifier_refuses_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")  # no engine answers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the local backend's loud warning
        async with open_pool("auto", 1) as pool:
            assert pool.choice == BackendChoice(
                "auto", "local", False, "auto: no Docker engine answers `docker info`"
            )
            with pytest.raises(LocalSandboxRefused, match="will not run untrusted programs"):
                CodeVerifier(pool)
            trusted = CodeVerifier(pool, limits=LIMITS, allow_local=True)
            assert (await trusted.verify_program(SUM_PY, SUM)).passed


async def test_the_guard_also_holds_for_a_verifier_made_before_the_pool_opened() -> None:
    pool = open_pool("local", 1)
    verifier = CodeVerifier(pool)  # not open yet: the backend is unknown
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        async with pool:
            assert pool.choice == BackendChoice("local", "local", False, "asked for 'local'")
            with pytest.raises(LocalSandboxRefused, match="allow_local=True"):
                await verifier.verify("```python\nprint(3)\n```", SUM)
