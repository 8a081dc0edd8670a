"""Job runner that lives inside each sandbox container (stdlib only; the local backend runs it too).

Started once per container as ``python3 -I -c <this source> runner``; the host then sends frames
on stdin and reads one answer per frame on stdout (no ``docker exec`` per job). The first frame
is the configuration, which carries the zygote's source (zygote.py):

    runner  (container PID 1, root holding only CAP_SETUID/CAP_SETGID): frames, limits, clean-up
      zygote  (a warm ``python3 -I``): forks one child per job and reports its wait status + rusage
        job  (setsid, rlimits, fresh work dir, the job uid): execs the program, or runs Python
             source in the already started interpreter (a fork instead of a 15 ms start-up)

After every job a sweeper, forked as the job uid, kills every process of that uid (background
processes included) and removes every file it left; if that fails the answer says ``tainted``
and the host replaces the container.

A frame is an 8-byte header (JSON size, payload size; big-endian u32), a JSON object, and a
payload that the object's ``blobs`` list of sizes splits into byte strings.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import time
import traceback

FRAME_HEADER = struct.Struct(">II")
ZYGOTE_MESSAGE_BYTES = 1 << 16
SWEEP_SECONDS = 1.5
ZYGOTE_ANSWER_SECONDS = 10.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CPU_CHECK_SECONDS = 0.01  # at least a clock tick between two reads of a job's CPU time
JOB_PATH = "/usr/local/bin:/usr/bin:/bin"
MEMORY_MARKERS = (b"MemoryError", b"std::bad_alloc", b"Cannot allocate memory")
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
_LIBC = ctypes.CDLL(None, use_errno=True)
# zygote.SETUP_FAILED (in a container the runner cannot import zygote.py, it sends it)
SETUP_FAILED = 126


# ---------------------------------------------------------------- frames (shared with the host)


def encode_frame(header: dict, blobs: tuple[bytes, ...] | list[bytes] = ()) -> bytes:
    head = json.dumps(dict(header, blobs=[len(blob) for blob in blobs])).encode()
    payload = b"".join(blobs)
    return FRAME_HEADER.pack(len(head), len(payload)) + head + payload


def decode_frame(head: bytes, payload: bytes) -> tuple[dict, list[bytes]]:
    header = json.loads(head)
    blobs, offset = [], 0
    for size in header.pop("blobs", []):
        blobs.append(payload[offset : offset + size])
        offset += size
    return header, blobs


def _read_exactly(stream, size: int) -> bytes | None:
    data = stream.read(size)
    if len(data) < size:
        return None
    return data


def read_frame(stream) -> tuple[dict, list[bytes]] | None:
    """Next frame from a blocking binary stream, or None at end of input."""
    prefix = _read_exactly(stream, FRAME_HEADER.size)
    if prefix is None:
        return None
    head_size, payload_size = FRAME_HEADER.unpack(prefix)
    head = _read_exactly(stream, head_size)
    payload = _read_exactly(stream, payload_size)
    if head is None or payload is None:
        return None
    return decode_frame(head, payload)


# ---------------------------------------------------------------- runner


class Broken(Exception):
    """The runner can no longer vouch for its container (the host replaces it)."""


class Runner:
    """Serves prepare/run frames; owns the zygote, the sweeper and the work folders."""

    def __init__(self, config: dict) -> None:
        self.uid: int | None = config["uid"]
        root = config["work_root"]
        self.bin_dir = os.path.join(root, "bin")
        self.jobs_dir = os.path.join(root, "w")
        # Jobs may write only in their own folder below jobs_dir (and /dev/shm, swept too).
        for path, mode in ((root, 0o755), (self.bin_dir, 0o755), (self.jobs_dir, 0o1777)):
            os.makedirs(path, exist_ok=True)
            os.chmod(path, mode)
        self.language: dict | None = None
        self.jobs = 0
        if os.getpid() != 1:
            _LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)  # adopt the jobs' orphans
        self.sweeper = None
        if self.uid is not None:
            shared = [self.jobs_dir, *(["/dev/shm"] if os.path.isdir("/dev/shm") else [])]
            self.sweeper = Sweeper(self.uid, shared)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.zygote = subprocess.Popen(
            [config["python"], "-I", "-c", config["zygote"], str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            env={"PATH": JOB_PATH, "LANG": "C.UTF-8"},
        )
        theirs.close()
        self.channel = ours
        self._zygote_answer(ZYGOTE_ANSWER_SECONDS)

    def handle(self, header: dict, blobs: list[bytes]) -> tuple[dict, list[bytes]]:
        if header["op"] == "ping":
            return {"status": "ok"}, []
        if header["op"] == "prepare":
            return self.prepare(header["language"], blobs[0], header["limits"])
        if header["op"] == "run":
            if self.language is None:  # its compilation failed: the host discards this answer
                return {"status": "compile_error", "detail": "not compiled"}, [b"", b""]
            return self.execute(self._fill(self.language["run"]), blobs[0], header["limits"])
        raise ValueError(f"unknown op {header['op']!r}")

    def prepare(self, language: dict, source: bytes, limits: dict) -> tuple[dict, list[bytes]]:
        """Store the source read-only and compile it once; later runs reuse the artifact.
        Without a compile command (Python) each run compiles, and says when it cannot."""
        self.language = None
        for entry in os.scandir(self.bin_dir):
            os.unlink(entry.path)
        source_path = os.path.join(self.bin_dir, language["source_name"])
        with open(source_path, "wb") as file:
            file.write(source)
        os.chmod(source_path, 0o644)
        prepared = dict(language, src=source_path)
        if not language["compile"]:
            self.language = prepared
            return {"status": "ok", "detail": "nothing to compile"}, [b"", b""]
        artifact = language["artifact"]

        def keep_artifact(workdir: str) -> str | None:
            try:  # never through a link: the runner may read what the job may not
                built = os.open(os.path.join(workdir, artifact), os.O_RDONLY | os.O_NOFOLLOW)
            except OSError:
                return f"the compiler left no {artifact}"
            target = os.path.join(self.bin_dir, artifact)
            with open(built, "rb") as source, open(target, "wb") as copy:
                if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                    return f"the compiler's {artifact} is not a file"
                shutil.copyfileobj(source, copy)
            os.chmod(target, 0o755)
            return None

        self.language = prepared
        answer = self.execute(self._fill(language["compile"]), b"", limits, collect=keep_artifact)
        if answer[0]["status"] != "ok":
            self.language = None
        return answer

    def execute(self, argv, stdin: bytes, limits: dict, collect=None) -> tuple[dict, list[bytes]]:
        """Run one job to the end and classify it; always sweeps up after it."""
        self.jobs += 1
        workdir = os.path.join(self.jobs_dir, str(self.jobs))
        fds = [os.memfd_create(name, os.MFD_CLOEXEC) for name in ("stdin", "stdout", "stderr")]
        try:
            _write_all(fds[0], stdin)
            os.lseek(fds[0], 0, os.SEEK_SET)
            env = {"PATH": JOB_PATH, "HOME": workdir, "TMPDIR": workdir, "LANG": "C.UTF-8"}
            job = {"argv": argv, "cwd": workdir, "env": env, "uid": self.uid, "limits": limits}
            socket.send_fds(self.channel, [json.dumps(job).encode()], fds)
            pid = self._zygote_answer(ZYGOTE_ANSWER_SECONDS)["pid"]
            broke = self._watch(pid, limits)
            if broke:
                swept = self._sweep(pid, workdir)
            finished = self._zygote_answer(ZYGOTE_ANSWER_SECONDS)
            problem = collect(workdir) if collect and not broke else None
            if not broke:
                swept = self._sweep(pid, workdir)
            stdout_size = os.fstat(fds[1]).st_size
            written = max(stdout_size, os.fstat(fds[2]).st_size)
            stdout = os.pread(fds[1], min(stdout_size, limits["output_bytes"]), 0)
            stderr = _tail(fds[2], limits["stderr_bytes"], keep=limits.get("stderr_keep", "tail"))
        finally:
            for fd in fds:
                os.close(fd)
        status, detail = classify(finished, limits, broke, written, stderr)
        if problem and status == "ok":
            status, detail = "runtime_error", problem
        raw = finished["status"]
        answer = {
            "status": status,
            "detail": detail,
            "exit_code": os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else None,
            "signal": os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else None,
            "wall_s": finished["wall_s"],
            "cpu_s": finished["cpu_s"],
            "memory_kb": finished["memory_kb"],
            "tainted": not swept,
        }
        return answer, [stdout, stderr]

    def _watch(self, pid: int, limits: dict) -> str | None:
        """Wait for the job to end; if it does not, the limit it broke: ``wall``, or ``cpu``.

        RLIMIT_CPU counts whole seconds, so the runner keeps the CPU limit itself, to the
        clock tick: it reads the job's CPU time (its process and the children it waited for)
        whenever the job could have used up what its limit has left (a process cannot spend
        CPU faster than time passes, except with threads, which overshoot by that factor)."""
        deadline = time.monotonic() + limits["wall_s"]
        while True:
            cpu_left = limits["cpu_s"] - _cpu_seconds(pid)
            if cpu_left <= 0:
                return "cpu"
            wall_left = deadline - time.monotonic()
            if wall_left <= 0:
                return "wall"
            if _readable(self.channel, min(wall_left, max(cpu_left, CPU_CHECK_SECONDS))):
                return None

    def _fill(self, template: list[str]) -> list[str]:
        src = self.language["src"]
        return [arg.replace("{src}", src).replace("{bin}", self.bin_dir) for arg in template]

    def _zygote_answer(self, timeout: float) -> dict:
        if not _readable(self.channel, timeout):
            raise Broken("the zygote did not answer")
        message = self.channel.recv(ZYGOTE_MESSAGE_BYTES)
        if not message:
            raise Broken("the zygote exited")
        return json.loads(message)

    def _sweep(self, pid: int, workdir: str) -> bool:
        """Kill whatever the job left running, delete whatever it wrote, reap the orphans."""
        if self.sweeper is None:
            _kill_group(pid)
            shutil.rmtree(workdir, ignore_errors=True)
            swept = not os.path.exists(workdir)
        else:
            swept = self.sweeper.sweep()
        self._reap()
        return swept

    def _reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.zygote.pid:
                raise Broken("the zygote died")


class Sweeper:
    """A child of the runner that has become the job uid and, on request, kills every process of
    that uid and deletes every file it owns in the shared folders. Jobs share its uid, so one can
    kill or stop it: a sweeper that does not answer is replaced by a fresh one, whose kill(-1)
    also ends the old one."""

    def __init__(self, uid: int, folders: list[str]) -> None:
        self.uid = uid
        self.folders = folders
        self._start()

    def sweep(self) -> bool:
        for _attempt in range(2):
            try:
                self.channel.send(b"sweep")
                if _readable(self.channel, SWEEP_SECONDS + 0.5):
                    answer = self.channel.recv(16)
                    if answer:
                        return answer == b"ok"
            except OSError:
                pass
            self.channel.close()
            self._start()
        return False

    def _start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        if os.fork() == 0:
            try:
                ours.close()
                self._serve(theirs)
            finally:
                os._exit(0)
        theirs.close()
        self.channel = ours

    def _serve(self, channel: socket.socket) -> None:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)  # never hold the runner's pipes to the host, nor its other sockets
        os.closerange(3, channel.fileno())
        os.closerange(channel.fileno() + 1, 1 << 16)
        os.setgroups([])
        os.setgid(self.uid)
        os.setuid(self.uid)
        _LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # jobs of this uid must not ptrace it
        while channel.recv(16):
            done = _kill_all() and _remove_owned(self.folders) and _remove_ipc()
            channel.send(b"ok" if done else b"failed")


def classify(finished: dict, limits: dict, broke: str | None, written: int, stderr: bytes):
    """Status and detail of a finished job, from the most to the least specific cause;
    ``broke`` is the limit the runner killed it for (``wall`` or ``cpu``), if any."""
    raw = finished["status"]
    signal_number = os.WTERMSIG(raw) if os.WIFSIGNALED(raw) else None
    exit_code = os.WEXITSTATUS(raw) if os.WIFEXITED(raw) else None
    if broke == "wall":  # first: a job stopped while Python compiled it never said it did
        return "timeout", f"wall time limit of {limits['wall_s']:g} s exceeded"
    if broke == "cpu" or finished["cpu_s"] > limits["cpu_s"] or signal_number == signal.SIGXCPU:
        return "timeout", f"CPU time limit of {limits['cpu_s']:g} s exceeded"
    if not finished["compiled"]:
        return "compile_error", "the program does not compile"
    if written > limits["output_bytes"] or signal_number == signal.SIGXFSZ:
        return "output_limit", f"output limit of {limits['output_bytes']} bytes exceeded"
    if exit_code == 0:
        return "ok", ""
    if exit_code == SETUP_FAILED:
        return "runtime_error", "the job could not be started"
    if signal_number == signal.SIGKILL or any(marker in stderr for marker in MEMORY_MARKERS):
        return "memory_limit", f"memory limit of {limits['memory_bytes'] >> 20} MiB exceeded"
    if signal_number is not None:
        return "runtime_error", f"killed by {signal.Signals(signal_number).name}"
    return "runtime_error", f"exit code {exit_code}"


def _kill_all() -> bool:
    """As the job uid: SIGKILL every process of that uid, then wait until none is alive.

    One kill(-1) dooms them all at once (the kernel lets no fork slip past it); the loop only
    covers the time they take to die. kill(-1) itself cannot tell (it succeeds whenever any
    other process exists), so /proc says who is left."""
    deadline = time.monotonic() + SWEEP_SECONDS
    while time.monotonic() < deadline:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            return True  # no other process at all
        if not _living_processes_of(os.getuid()):
            return True
        time.sleep(0.001)
    return False


def _living_processes_of(uid: int) -> list[int]:
    """Pids of processes owned by ``uid`` that are not zombies (other than this process);
    /proc/PID itself belongs to the process's uid, dumpable or not."""
    found, me = [], str(os.getpid())
    for name in os.listdir("/proc"):
        if not name.isdigit() or name == me:
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
            with open(f"/proc/{name}/stat", "rb") as stat:
                state = stat.read().rpartition(b")")[2][1:2]
        except OSError:
            continue  # exited meanwhile
        if state != b"Z":
            found.append(int(name))
    return found


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process and of the children it waited for (0 when it is
    gone); /proc/PID/stat is readable whoever owns the process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rpartition(b")")[2].split()
    except OSError:
        return 0.0
    return sum(int(field) for field in fields[11:15]) / CLOCK_TICKS


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _remove_owned(folders: list[str]) -> bool:
    """As the job uid: delete every entry it owns in the shared writable folders."""
    uid = os.getuid()

    def make_writable(function, path, _error):
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
        function(path)

    for folder in folders:
        for entry in os.scandir(folder):
            if entry.stat(follow_symlinks=False).st_uid != uid:
                continue
            if entry.is_dir(follow_symlinks=False):
                os.chmod(entry.path, 0o700)
                shutil.rmtree(entry.path, onerror=make_writable)
            else:
                os.unlink(entry.path)
    return True


def _remove_ipc() -> bool:
    """As the job uid: remove the System V shared memory, semaphores and queues it created."""
    found = []
    for kind in ("shm", "sem", "msg"):
        with open(f"/proc/sysvipc/{kind}") as table:
            columns, *rows = [line.split() for line in table]
        uid_column = columns.index("uid")
        found += [(kind, int(row[1])) for row in rows if int(row[uid_column]) == os.getuid()]
    ipc_rmid = 0
    controls = {"shm": _LIBC.shmctl, "sem": _LIBC.semctl, "msg": _LIBC.msgctl}
    return all(controls[kind](ident, 0, ipc_rmid, None) == 0 for kind, ident in found)


def _readable(channel: socket.socket, timeout: float) -> bool:
    ready, _, _ = select.select([channel], [], [], max(0.0, timeout))
    return bool(ready)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _tail(fd: int, size: int, keep: str) -> bytes:
    total = os.fstat(fd).st_size
    start = max(0, total - size) if keep == "tail" else 0
    return os.pread(fd, min(size, total), start)


def runner_main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    config = read_frame(stdin)
    if config is None:
        return
    runner = Runner(config[0])
    stdout.write(encode_frame({"ready": True}))
    stdout.flush()
    while (frame := read_frame(stdin)) is not None:
        try:
            answer, blobs = runner.handle(*frame)
        except Broken as error:
            stdout.write(encode_frame({"error": str(error), "tainted": True}))
            stdout.flush()
            raise SystemExit(1) from error
        except Exception:
            answer, blobs = {"error": traceback.format_exc(), "tainted": True}, []
        stdout.write(encode_frame(answer, blobs))
        stdout.flush()


if __name__ == "__main__":
    runner_main()
