"""Attacks on the Docker sandbox, each against the real engine: contained, given the right
verdict, and followed by correct results from the same pool.

Several attacks run as a batch of one program on one container: the run with input ``attack``
attacks, the following runs (``check``) look for what the attack left behind; a batch never
changes container unless its container is lost, which the tests rule out too.
"""

from __future__ import annotations

import asyncio
import secrets
import socket
import textwrap
from collections.abc import Iterator

import pytest

from sandbox import Limits, Pool, Program, open_pool
from tests.helpers import POOL_SIZE, TIGHT, require_docker

pytestmark = [pytest.mark.docker, pytest.mark.asyncio(loop_scope="session")]

#: a job's view of its container: the real uid of every other process, and the other
#: processes of its own uid but the runner's sweeper (a fork of the runner, so its command
#: line ends with "runner")
WHO_IS_WHO = """
import os
def real_uids():
    found = {}
    for p in os.listdir("/proc"):
        if p.isdigit() and int(p) != os.getpid():
            for line in open(f"/proc/{p}/status"):
                if line.startswith("Uid:"):
                    found[int(p)] = int(line.split()[1])
    return found
def other_jobs():
    return [pid for pid, uid in real_uids().items() if uid == os.getuid()
            and not open(f"/proc/{pid}/cmdline", "rb").read().endswith(b"\\0runner\\0")]
"""


def python(source: str) -> Program:
    return Program("python", WHO_IS_WHO + textwrap.dedent(source))


async def assert_serves(pool: Pool) -> None:
    """The pool answers correctly on every container right after an attack."""
    program = Program("python", "n = int(input())\nprint(sum(range(n)))")
    results = await asyncio.gather(*(pool.run(program, f"{n}\n") for n in range(4 * POOL_SIZE)))
    assert [r.stdout for r in results] == [f"{sum(range(n))}\n" for n in range(4 * POOL_SIZE)]


async def attack_then_check(pool: Pool, program: Program, checks: int = 1, limits=TIGHT):
    """Run ``attack`` then ``checks`` times ``check`` on one container; the container held."""
    replaced = pool.replaced
    batch = await pool.run_batch(program, ["attack\n"] + ["check\n"] * checks, limits)
    assert batch.compile.ok, batch.compile
    assert len({run.worker for run in batch.runs}) == 1, "the batch moved to another container"
    assert pool.replaced == replaced, "the attack cost a container"
    return batch.runs[0], batch.runs[1:]


# -- network


@pytest.fixture
def host_servers() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A TCP and a UDP server on the host's loopback that no job must reach."""
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    for server in (tcp, udp):
        server.setblocking(False)
    yield tcp, udp
    tcp.close()
    udp.close()


async def test_no_network_tcp_udp_or_dns(docker_pool: Pool, host_servers) -> None:
    tcp, udp = host_servers
    source = f"""
        import os, socket
        def attempt(name, action):
            try:
                action()
                print(name, "REACHED")
            except OSError as error:
                print(name, "blocked", type(error).__name__)
        def tcp():
            socket.create_connection(("127.0.0.1", {tcp.getsockname()[1]}), timeout=1).close()
        def udp():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.sendto(b"leak", ("127.0.0.1", {udp.getsockname()[1]}))
            s.settimeout(0.3)
            s.recv(10)
        attempt("tcp", tcp)
        attempt("udp", udp)
        attempt("dns", lambda: socket.getaddrinfo("pypi.org", 443))
        print("interfaces", sorted(os.listdir("/sys/class/net")))
        print("routes", len(open("/proc/net/route").read().splitlines()) - 1)
    """
    result = await docker_pool.run(python(source), limits=TIGHT)
    assert result.status == "ok", result
    lines = result.stdout.splitlines()
    assert lines[0].startswith("tcp blocked") and lines[1].startswith("udp blocked"), lines
    assert lines[2].startswith("dns blocked"), lines
    assert lines[3:] == ["interfaces ['lo']", "routes 0"]
    with pytest.raises(BlockingIOError):
        tcp.accept()
    with pytest.raises(BlockingIOError):
        udp.recv(10)
    await assert_serves(docker_pool)


# -- processes


async def test_fork_bomb_is_contained(docker_pool: Pool) -> None:
    source = """
        import os
        if input() == "attack":
            while True:
                try:
                    os.fork()
                except OSError:
                    pass
        print("left behind:", len(other_jobs()))
    """
    attack, [check] = await attack_then_check(docker_pool, python(source))
    assert attack.status == "timeout", attack
    assert check.stdout == "left behind: 0\n"
    await assert_serves(docker_pool)


async def test_process_limit_holds(docker_pool: Pool) -> None:
    source = """
        import os, time
        children = 0
        try:
            while True:
                if os.fork() == 0:
                    time.sleep(3600)  # holds its process slot until the sweep
                    os._exit(0)
                children += 1
        except OSError as error:
            print("stopped at", children, type(error).__name__)
    """
    result = await docker_pool.run(python(source), limits=TIGHT)
    assert result.status == "ok", result
    words = result.stdout.split()
    assert words[0:2] == ["stopped", "at"] and int(words[2]) < TIGHT.processes
    await assert_serves(docker_pool)


async def test_background_processes_do_not_outlive_their_job(docker_pool: Pool) -> None:
    """A daemon that keeps writing outside its work dir: the job ends when its main process
    does (not at the wall limit), and the next job finds neither the daemon nor its files.
    The main process waits until the daemon runs, so the daemon is alive when the job ends."""
    source = """
        import os, sys, time
        jobs_dir = os.path.dirname(os.getcwd())
        alive = os.path.join(jobs_dir, "alive")
        if input() == "attack":
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    open(alive, "w").close()
                    while True:
                        with open(os.path.join(jobs_dir, "leak"), "a") as leak:
                            leak.write("x")
                        time.sleep(0.001)
                os._exit(0)
            while not os.path.exists(alive):
                time.sleep(0.001)
            print("main done")
            sys.exit(0)
        print(len(other_jobs()), os.listdir(jobs_dir) == [os.path.basename(os.getcwd())])
    """
    attack, [check] = await attack_then_check(docker_pool, python(source))
    assert (attack.status, attack.stdout) == ("ok", "main done\n"), attack
    assert check.stdout == "0 True\n"
    await assert_serves(docker_pool)


async def test_cannot_kill_the_runner_the_zygote_or_pid_1(docker_pool: Pool) -> None:
    source = """
        import os, signal
        if input() == "attack":
            root_processes = [pid for pid, uid in real_uids().items() if uid == 0]
            outcomes = []
            for pid in root_processes:  # the runner (pid 1) and the zygote
                try:
                    os.kill(pid, signal.SIGKILL)
                    outcomes.append("killed")
                except PermissionError:
                    outcomes.append("denied")
            os.kill(-1, signal.SIGKILL)  # everything this uid may signal (the sweeper)
            print(len(root_processes), sorted(set(outcomes)))
        else:
            print("still serving")
    """
    attack, checks = await attack_then_check(docker_pool, python(source), checks=2)
    assert attack.status == "ok", attack
    assert attack.stdout == "2 ['denied']\n"
    assert [check.stdout for check in checks] == ["still serving\n"] * 2
    await assert_serves(docker_pool)


async def test_stopping_every_process_of_its_uid_does_not_wedge_the_container(
    docker_pool: Pool,
) -> None:
    source = """
        import os, signal
        if input() == "attack":
            os.kill(-1, signal.SIGSTOP)
            print("stopped them")
        else:
            print("still serving")
    """
    attack, [check] = await attack_then_check(docker_pool, python(source))
    assert (attack.status, check.stdout) == ("ok", "still serving\n")
    await assert_serves(docker_pool)


# -- memory, time, output


async def test_python_memory_bomb(docker_pool: Pool) -> None:
    source = "grow = []\nwhile True:\n    grow.append(' ' * (16 << 20))"
    result = await docker_pool.run(python(source), limits=TIGHT)
    assert result.status == "memory_limit", result
    await assert_serves(docker_pool)


async def test_processes_together_past_the_container_memory_are_oom_killed(
    docker_pool: Pool,
) -> None:
    """Each child stays under its own limit; together they pass the container's (2 GiB): the
    kernel's OOM killer takes jobs (oom_score_adj 1000), never the runner or the zygote."""
    source = """
        import os
        children = []
        for _ in range(16):
            pid = os.fork()
            if pid == 0:
                hold = b"x" * (200 << 20)
                os._exit(0)
            children.append(pid)
        statuses = [os.waitpid(pid, 0)[1] for pid in children]
        print("oom killed", sum(os.WIFSIGNALED(s) and os.WTERMSIG(s) == 9 for s in statuses))
    """
    replaced = docker_pool.replaced
    limits = Limits(time_s=10, wall_s=20, memory_mb=256, processes=32)
    result = await docker_pool.run(python(source), limits=limits)
    assert result.status == "ok", result
    killed = int(result.stdout.split()[-1])
    assert 1 <= killed <= 16, result.stdout
    assert docker_pool.replaced == replaced
    await assert_serves(docker_pool)


@pytest.mark.parametrize(
    "allocation",
    [
        "char* p = new char[10ULL << 30]; std::cout << (void*)p;",
        "std::vector<char> v(10ULL << 30, 1); std::cout << v.back();",
    ],
)
async def test_cpp_allocating_10_gib(docker_pool: Pool, allocation: str) -> None:
    source = f"#include <iostream>\n#include <vector>\nint main() {{ {allocation} }}"
    result = await docker_pool.run(Program("cpp", source), limits=TIGHT)
    assert result.status == "memory_limit", result
    assert "bad_alloc" in result.stderr
    await assert_serves(docker_pool)


@pytest.mark.parametrize("stream", ["sys.stdout", "sys.stderr"])
async def test_infinite_output(docker_pool: Pool, stream: str) -> None:
    source = f"import sys\nwhile True:\n    print('spam' * 100, file={stream})"
    result = await docker_pool.run(python(source), limits=TIGHT)
    assert result.status == "output_limit", result
    assert len(result.stdout if stream == "sys.stdout" else result.stderr) == (
        TIGHT.output_bytes if stream == "sys.stdout" else TIGHT.stderr_bytes
    )
    await assert_serves(docker_pool)


async def test_sleeping_past_the_limit(docker_pool: Pool) -> None:
    result = await docker_pool.run(python("import time\ntime.sleep(3600)"), limits=TIGHT)
    assert result.status == "timeout" and result.signal == 9
    assert TIGHT.wall <= result.wall_s < TIGHT.wall + 1
    await assert_serves(docker_pool)


# -- files


async def test_one_huge_file_hits_the_file_size_limit(docker_pool: Pool) -> None:
    source = """
        chunk = b"x" * (1 << 20)
        with open("big", "wb") as f:
            while True:
                f.write(chunk)
    """
    result = await docker_pool.run(python(source), limits=TIGHT)
    assert result.status == "runtime_error", result
    assert "File too large" in result.stderr
    await assert_serves(docker_pool)


async def test_disk_fill_is_bounded_and_cleaned_up(docker_pool: Pool) -> None:
    source = """
        import os
        if input() == "attack":
            chunk = b"x" * (512 << 10)
            for n in range(100000):
                with open(f"fill{n}", "wb") as f:
                    f.write(chunk)
        with open("after", "wb") as f:
            f.write(b"y" * (32 << 20))
        print("wrote 32 MiB")
    """
    limits = Limits(time_s=10, wall_s=20, memory_mb=256, output_bytes=64 << 20)
    attack, [check] = await attack_then_check(docker_pool, python(source), limits=limits)
    assert attack.status == "runtime_error", attack
    assert "No space left on device" in attack.stderr
    assert (check.status, check.stdout) == ("ok", "wrote 32 MiB\n")
    await assert_serves(docker_pool)


async def test_nothing_outside_the_work_dir_is_writable_or_kept(docker_pool: Pool) -> None:
    source = """
        import os
        targets = ["/etc/passwd", "/usr/bin/python3", "/tmp/x", "/tmp/bin/main.py", "/x",
                   "/var/tmp/x", "/root/x", "/proc/sys/kernel/hostname", "/sys/kernel/x"]
        if input() == "attack":
            for path in targets:
                try:
                    with open(path, "a") as f:
                        f.write("owned")
                    print(path, "WRITTEN")
                except OSError as error:
                    print(path, "blocked")
            open("/dev/shm/left", "w").write("for the next job")
            open(os.path.join(os.environ["HOME"], "mine"), "w").write("mine")
        else:
            print(os.path.exists("/dev/shm/left"), os.listdir("."))
    """
    attack, [check] = await attack_then_check(docker_pool, python(source))
    assert attack.status == "ok", attack
    assert all(line.endswith(" blocked") for line in attack.stdout.splitlines()), attack.stdout
    assert check.stdout == "False []\n"
    await assert_serves(docker_pool)


async def test_no_host_file_or_engine_secret_is_visible(tmp_path, monkeypatch) -> None:
    require_docker()
    secret = secrets.token_hex(16)
    monkeypatch.setenv("THOUGHTMILL_TEST_SECRET", secret)
    host_file = tmp_path / "host-secret.txt"
    host_file.write_text(secret)
    source = f"""
        import os
        secret = {secret[::-1]!r}[::-1].encode()  # so that this source does not contain it
        found = []
        def look(path):
            try:
                with open(path, "rb") as f:
                    if secret in f.read(1 << 20):
                        found.append(path)
            except OSError:
                pass
        look({str(host_file)!r})
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            for name in ("environ", "cmdline"):
                look(f"/proc/{{pid}}/{{name}}")
        for folder in ("/etc", "/tmp", "/run", "/root", "/home", "/dev/shm"):
            for root, _, files in os.walk(folder):
                for name in files:
                    look(os.path.join(root, name))
        if secret.decode() in str(dict(os.environ)):
            found.append("os.environ")
        print("found:", found)
    """
    async with open_pool("docker", 1) as pool:  # started after the secret was set
        result = await pool.run(python(source), limits=Limits(time_s=5, wall_s=10))
    assert (result.status, result.stdout) == ("ok", "found: []\n"), result


async def test_proc_tricks_are_denied(docker_pool: Pool) -> None:
    source = """
        import ctypes, os
        uids = real_uids()
        [zygote] = [pid for pid, uid in uids.items() if uid == 0 and pid != 1]
        [sweeper] = [pid for pid, uid in uids.items() if uid == os.getuid()]
        def read(path):
            with open(path, "rb") as f:
                return f.read(64)
        def write(path, data):
            with open(path, "w") as f:
                f.write(data)
        attempts = {
            "pid 1 environ": lambda: read("/proc/1/environ"),
            "pid 1 memory": lambda: read("/proc/1/mem"),
            "pid 1 root": lambda: os.listdir("/proc/1/root/"),
            "pid 1 cwd": lambda: os.listdir("/proc/1/cwd/"),
            "zygote fds": lambda: os.listdir(f"/proc/{zygote}/fd"),
            "zygote environ": lambda: read(f"/proc/{zygote}/environ"),
            "kernel memory": lambda: read("/proc/kcore"),
            "sysrq": lambda: write("/proc/sysrq-trigger", "b"),
            "kernel setting": lambda: write("/proc/sys/vm/drop_caches", "3"),
            "oom immunity": lambda: write("/proc/self/oom_score_adj", "-1000"),
            "sweeper memory": lambda: read(f"/proc/{sweeper}/mem"),
            "sweeper environ": lambda: read(f"/proc/{sweeper}/environ"),
        }
        for name, attempt in attempts.items():
            try:
                attempt()
                print(name, "ALLOWED")
            except OSError:
                print(name, "denied")
        libc = ctypes.CDLL(None, use_errno=True)
        for name, pid in (("pid 1", 1), ("zygote", zygote), ("sweeper", sweeper)):
            print("ptrace", name, "denied" if libc.ptrace(16, pid, 0, 0) != 0 else "ALLOWED")
        status = dict(line.split(":", 1) for line in open("/proc/self/status"))
        print("capabilities", {k: int(status[k], 16) for k in ("CapEff", "CapPrm", "CapAmb")})
        print("no new privileges", status["NoNewPrivs"].strip())
    """
    result = await docker_pool.run(python(source), limits=TIGHT)
    assert result.status == "ok", result
    *denials, capabilities, no_new_privileges = result.stdout.splitlines()
    assert len(denials) == 15 and all(line.endswith(" denied") for line in denials), denials
    assert capabilities == "capabilities {'CapEff': 0, 'CapPrm': 0, 'CapAmb': 0}"
    assert no_new_privileges == "no new privileges 1"
    await assert_serves(docker_pool)
