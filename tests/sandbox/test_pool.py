"""The sandbox pool's contract, on both backends: results, limits, batches that compile once."""

from __future__ import annotations

import asyncio
import os
import warnings
from collections.abc import AsyncIterator

import msgspec
import pytest
import pytest_asyncio

from sandbox import Limits, Pool, Program, open_pool
from tests.helpers import POOL_SIZE, TIGHT
from tests.sandbox.progress import job_running

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: TIGHT's memory and output limits with a wall clock no loaded machine reaches first
ROOMY = msgspec.structs.replace(TIGHT, time_s=5, wall_s=30)
ADD_CPP = """
#include <iostream>
int main() { long long a, b; std::cin >> a >> b; std::cout << a + b << "\\n"; }
"""
SELF_INODE_CPP = """
#include <iostream>
#include <sys/stat.h>
int main() { struct stat s; stat("/proc/self/exe", &s); std::cout << s.st_ino << "\\n"; }
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def local_pool() -> AsyncIterator[Pool]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the local backend's loud warning
        async with open_pool("local", POOL_SIZE) as opened:
            yield opened


@pytest.fixture(params=[pytest.param("docker", marks=pytest.mark.docker), "local"])
def pool(request) -> Pool:
    """Each test runs on the warm Docker pool and on the local backend."""
    return request.getfixturevalue(f"{request.param}_pool")


async def test_python_reads_stdin_and_writes_stdout_and_stderr(pool: Pool) -> None:
    source = "import sys\nname = input()\nprint('hello', name)\nprint('note', file=sys.stderr)"
    result = await pool.run(Program("python", source), "world\n")
    assert result.status == "ok", result
    assert (result.stdout, result.stderr, result.exit_code) == ("hello world\n", "note\n", 0)
    assert result.cpu_s >= 0 and result.wall_s > 0 and result.memory_kb > 1000
    assert result.worker in pool.worker_names()


async def test_python_program_sees_a_fresh_main_module(pool: Pool) -> None:
    source = (
        "import sys, os\n"
        "print(__name__, sys.argv[0].endswith('main.py'), sorted(os.listdir('.')))\n"
        "print(os.getuid() != 0, os.environ['HOME'] == os.getcwd())\n"
        "raise SystemExit(7)"
    )
    result = await pool.run(Program("python", source))
    assert result.stdout == "__main__ True []\nTrue True\n"
    assert (result.status, result.exit_code) == ("runtime_error", 7)


async def test_uncaught_exception_is_a_runtime_error_with_its_traceback(pool: Pool) -> None:
    result = await pool.run(Program("python", "print('partial')\n1 / 0"))
    assert result.status == "runtime_error" and result.exit_code == 1
    assert result.stdout == "partial\n"
    assert result.stderr.strip().endswith("ZeroDivisionError: division by zero")
    # the program's own frame, and none of the sandbox's (the zygote runs from a string)
    [frame] = [line for line in result.stderr.splitlines() if line.startswith("  File ")]
    assert frame.endswith('main.py", line 2, in <module>'), result.stderr


async def test_jobs_do_not_share_the_random_state_of_the_warm_interpreter(pool: Pool) -> None:
    program = Program("python", "import random\nprint(random.getrandbits(64))")
    results = await asyncio.gather(*(pool.run(program) for _ in range(8)))
    assert len({result.stdout for result in results}) == 8, results


async def test_python_syntax_error_is_a_compile_error(pool: Pool) -> None:
    result = await pool.run(Program("python", "def broken(:\n    pass"))
    assert result.status == "compile_error"
    assert "SyntaxError" in result.stderr


async def test_cpp_compiles_and_runs(pool: Pool) -> None:
    result = await pool.run(Program("cpp", ADD_CPP), "40 2\n")
    assert (result.status, result.stdout) == ("ok", "42\n")


async def test_cpp_compile_error_carries_the_compiler_message(pool: Pool) -> None:
    result = await pool.run(Program("cpp", "int main() { return undefined_name; }"))
    assert result.status == "compile_error"
    assert "undefined_name" in result.stderr and "error" in result.stderr


async def test_cpp_batch_compiles_once_and_reuses_the_binary(pool: Pool) -> None:
    batch = await pool.run_batch(Program("cpp", SELF_INODE_CPP), [""] * 6)
    assert batch.compile.ok and len(batch.runs) == 6
    inodes = {run.stdout for run in batch.runs}
    assert len(inodes) == 1 and inodes.pop().strip().isdigit()
    assert {run.worker for run in batch.runs} == {batch.compile.worker}
    # the compilation is the expensive step; six runs cost less than it did
    assert sum(run.wall_s for run in batch.runs) < batch.compile.wall_s


async def test_batch_stops_when_asked(pool: Pool) -> None:
    inputs = ["1 1\n", "2 2\n", "3 3\n", "4 4\n"]
    batch = await pool.run_batch(
        Program("cpp", ADD_CPP), inputs, stop_when=lambda index, result: result.stdout == "4\n"
    )
    assert [run.stdout for run in batch.runs] == ["2\n", "4\n"]


async def test_cpu_time_limit(pool: Pool) -> None:
    limits = Limits(time_s=1, wall_s=20)  # so that the CPU limit ends it even on a busy machine
    result = await pool.run(Program("python", "while True:\n    pass"), limits=limits)
    assert result.status == "timeout" and "CPU" in result.detail
    # the kernel's own count ends it; rusage may report a little less on a busy VM
    assert 0.5 <= result.cpu_s <= 2.5, result


@pytest.mark.parametrize(
    "program",
    [
        Program("python", "if input() == 'spin':\n    while True:\n        pass\nprint('free')"),
        Program(
            "cpp",
            "#include <iostream>\n#include <string>\nint main() { std::string s; std::cin >> s;\n"
            '  volatile long n = 0; if (s == "spin") for (;;) ++n; std::cout << "free\\n"; }',
        ),
    ],
    ids=["python", "cpp"],
)
async def test_a_cpu_limit_below_a_second_is_kept(pool: Pool, program: Program) -> None:
    """RLIMIT_CPU counts whole seconds; the runner ends a 0.2 s busy loop at about 0.2 s of
    CPU (well before the 1 s the kernel would allow), and its runner serves the next input."""
    limits = Limits(time_s=0.2, wall_s=20)  # a generous wall clock: only CPU time can end it
    batch = await pool.run_batch(program, ["spin\n", "rest\n"], limits)
    spun, rested = batch.runs
    assert (spun.status, spun.detail) == ("timeout", "CPU time limit of 0.2 s exceeded"), spun
    assert 0.18 <= spun.cpu_s < 0.6, spun
    assert (rested.status, rested.stdout, rested.worker) == ("ok", "free\n", spun.worker)


async def test_a_cpu_limit_is_not_a_wall_limit(pool: Pool) -> None:
    program = Program("python", "import time\ntime.sleep(0.6)\nprint('slept')")
    result = await pool.run(program, limits=Limits(time_s=0.2, wall_s=20))
    assert (result.status, result.stdout) == ("ok", "slept\n"), result


async def test_wall_time_limit(pool: Pool) -> None:
    result = await pool.run(Program("python", "import time\ntime.sleep(30)"), limits=TIGHT)
    assert result.status == "timeout" and "wall" in result.detail
    assert result.wall_s < 5


async def test_memory_limit(pool: Pool) -> None:
    source = "blocks = []\nwhile True:\n    blocks.append(bytearray(8 << 20))"
    result = await pool.run(Program("python", source), limits=ROOMY)
    assert result.status == "memory_limit", result
    assert "MemoryError" in result.stderr


async def test_output_limit(pool: Pool) -> None:
    result = await pool.run(Program("python", "while True:\n    print('y' * 1000)"), limits=ROOMY)
    assert result.status == "output_limit", result
    assert len(result.stdout) == TIGHT.output_bytes


async def test_program_time_budget_spans_the_batch(pool: Pool) -> None:
    program = Program("python", "import time\ntime.sleep(0.4)\nprint('ok')")
    limits = Limits(time_s=1, wall_s=2)
    batch = await pool.run_batch(program, [""] * 6, limits, total_wall_s=1.0)
    statuses = [run.status for run in batch.runs]
    # 0.4 s of sleep each: however fast the machine, a third run cannot end within 1 s; the
    # run that meets the end of the budget times out, and one after it finds none left
    done = statuses.count("ok")
    assert done <= 2 and statuses[:done] == ["ok"] * done
    assert statuses[done:] in (["timeout"], ["timeout", "timeout"]), statuses
    assert "program time limit" in batch.runs[-1].detail


async def test_many_concurrent_jobs_get_their_own_answers(pool: Pool) -> None:
    program = Program("python", "a, b = map(int, input().split())\nprint(a * b)")
    results = await asyncio.gather(*(pool.run(program, f"{i} {i}\n") for i in range(40)))
    assert [result.stdout for result in results] == [f"{i * i}\n" for i in range(40)]
    assert {result.worker for result in results} == set(pool.worker_names())


async def test_unicode_and_large_input_round_trip(pool: Pool) -> None:
    text = "héllo wörld ✓ 数字\n" * 20000  # about 400 KB
    source = "import sys\nsys.stdout.write(sys.stdin.read()[::-1])"
    result = await pool.run(Program("python", source), text)
    assert result.ok and result.stdout == text[::-1]


async def test_local_backend_without_a_job_uid_still_limits_and_cleans_up() -> None:
    """As a non-root user would run it: jobs keep the caller's uid (weaker, warned)."""
    with pytest.warns(RuntimeWarning, match="run as your own user"):
        async with open_pool("local", 1, drop_privileges=False) as pool:
            program = Program("python", "import os\nprint(os.getuid(), sorted(os.listdir('.')))")
            result = await pool.run(program)
            assert result.stdout == f"{os.getuid()} []\n"
            sleeper = Program("python", "import time\nopen('left', 'w')\ntime.sleep(30)")
            timed_out = await pool.run(sleeper, limits=TIGHT)
            assert timed_out.status == "timeout"
            after = await pool.run(program)
            assert (after.stdout, after.worker) == (result.stdout, result.worker)


async def test_a_cancelled_job_costs_its_runner_but_not_the_pool(pool: Pool) -> None:
    sleeper = Program("python", "import time\ntime.sleep(30)")
    job = asyncio.create_task(pool.run(sleeper, limits=Limits(time_s=1, wall_s=40)))
    await job_running(pool)
    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job
    program = Program("python", "print(int(input()) + 1)")
    results = await asyncio.gather(*(pool.run(program, f"{i}\n") for i in range(6)))
    assert [result.stdout for result in results] == [f"{i + 1}\n" for i in range(6)]
