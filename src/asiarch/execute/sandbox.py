"""The sandbox a worker process enters before it imports any candidate code.

Layers, outermost first (each is independent; see docs/sandbox.md for what each can and cannot stop):

1. Resource limits (``setrlimit``): address space, CPU seconds, size of any file written, no core
   dumps. A memory bomb fails its allocation; a thread hog is killed by SIGXCPU.
2. A private working directory, which is also ``TMPDIR`` and ``HOME``.
3. Network namespace (``unshare(CLONE_NEWNET)``, where the kernel lets us): the worker's thread sees
   only a loopback interface that is down, so no packet can leave.
4. Landlock (Linux ≥ 5.13, where available): the kernel refuses writes, deletes and ``execve``
   anywhere outside the working directory, TCP bind/connect (ABI ≥ 4) and signals to processes
   outside the sandbox (ABI ≥ 6) — also for native code that never passes through Python.
5. A Python audit hook: refuses process creation, signals, sockets, native-library loading and
   file changes outside the working directory; and, while candidate code is running, reading the
   interpreter's stack frames or object graph (where the trainer keeps the targets), running code
   built at run time, and reading the evaluation data, a process's environment or memory, or the
   user's and project's files.
   Each attempt is recorded and reported to the orchestrator at once, so that the job fails with
   gate ``sandbox`` even when the candidate catches the exception or clears the record.
6. A scrubbed environment (``ENVIRONMENT_KEPT``): API keys and passwords are gone before the
   candidate loads.
7. An integrity record of the functions and classes of torch and asiarch (``library_guard.py``): a
   candidate that replaces one (monkeypatching the loss, the optimizer or the trainer) fails.

Which of 3 and 4 are in force depends on the kernel and privileges; ``enter_sandbox`` reports them.

A job that compiles (``train.compile``) or trains on a GPU (Triton builds its kernels and launchers
with the system's compilers) gets a toolchain: the audit hook lets it start the programs named in
``sandbox.toolchain`` and nothing else, and Landlock lets it execute beneath their directories.
A GPU job also has no address-space limit (CUDA reserves far more address space than it uses);
its memory is bounded by the GPU's. docs/sandbox.md says what this gives up.
"""

from __future__ import annotations

import ctypes
import glob
import os
import platform
import re
import resource
import shutil
import site
import sys
import tempfile
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38
LANDLOCK_SYSCALLS = {"create_ruleset": 444, "add_rule": 445, "restrict_self": 446}
"""The same numbers on every architecture Linux added them to after 5.13."""
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE = 1 << 0, 1 << 1
FS_WRITE_LIKE = sum(1 << bit for bit in range(4, 13)) | FS_WRITE_FILE  # remove, make dir/reg/sock/fifo/sym…
FS_REFER, FS_TRUNCATE = 1 << 13, 1 << 14
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1
WRITABLE_DEVICES = ("/dev/null",)
GPU_DEVICE_PATTERNS = ("/dev/nvidia*", "/dev/dri")
"""Device files a GPU job opens read-write (the NVIDIA driver's control, UVM and per-GPU nodes)."""
COMPILER_PASS_DIRECTORIES = ("/usr/lib/gcc", "/usr/libexec/gcc")
DYNAMIC_LOADERS = ("/lib64/ld-linux*.so*", "/lib/ld-linux*.so*", "/lib/*/ld-linux*.so*", "/lib/ld-musl*.so*")
"""The ELF interpreter a started program needs: the kernel checks execute rights on it too."""
SPAWN_EVENTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.exec"})
CPU_HARD_LIMIT_GRACE_S = 5
PRIVATE_DIRECTORY_VARIABLES = (
    "TMPDIR", "TEMP", "TMP", "HOME", "XDG_CACHE_HOME", "TORCH_HOME", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR"
)  # fmt: skip
"""Where libraries put temporary files and caches: all inside the job's directory (torch creates its
compile cache on first import of torch._dynamo, from a path inherited from the parent otherwise)."""
CANDIDATE_MODULE_PREFIX = "asiarch_candidate_"
"""The loader names every candidate module with this prefix: it is how the audit hook knows candidate code is
running (a frame whose globals are a candidate module's)."""
PACKAGE_DIRECTORY = Path(__file__).resolve().parents[1]
PROTECTED_DATA = (PACKAGE_DIRECTORY / "bench" / "data",)
"""Shipped data the evaluation reads (the text corpus): never readable by candidate code."""
ENVIRONMENT_KEPT = (
    "PATH", "LANG", "LANGUAGE", "LC_", "TZ", "TERM", "PYTHON", "CUDA", "NVIDIA", "TRITON", "TORCH", "OMP_",
    "MKL_", "KMP_", "OPENBLAS", "LD_LIBRARY_PATH", "CC", "CXX", "MALLOC_", "RAY_", *PRIVATE_DIRECTORY_VARIABLES,
)  # fmt: skip
"""Environment variables a job keeps (by name or prefix); everything else (API keys, passwords, tokens) is
removed before the candidate loads."""


@dataclass(frozen=True)
class SandboxLimits:
    """What one job's worker may use; computed by the executor from the configuration."""

    workdir: str
    memory_bytes: int
    """Address-space limit (not applied to GPU jobs: see the module docstring)."""
    cpu_seconds: int
    file_size_bytes: int
    isolate_network: bool
    landlock: bool
    programs: tuple[str, ...] = ()
    """Programs the job may start (by name, e.g. ``g++``): its toolchain, empty for most jobs."""
    gpu: bool = False
    """The job trains on a GPU: it may open the GPU's device files and has no address-space limit."""


class SandboxViolation(PermissionError):
    """Raised inside the worker when candidate code tries something the sandbox refuses."""


_violations: list[str] = []
_layers: list[str] = []


def take_violations() -> list[str]:
    """Every refused attempt recorded so far (each a one-line description), clearing the record."""
    taken = list(_violations)
    _violations.clear()
    return taken


def active_layers() -> list[str]:
    """The layers ``enter_sandbox`` put in force in this process (empty outside a sandbox)."""
    return list(_layers)


def enter_sandbox(limits: SandboxLimits, on_refusal: Callable[[str], None] | None = None) -> list[str]:
    """Confine the current process; returns the names of the layers now in force. ``on_refusal`` hears of the
    first refused attempt at once (the executor sends it to the orchestrator, out of the candidate's reach)."""
    sys.dont_write_bytecode = True  # importing must not try to write .pyc files next to the sources
    protected = [os.getcwd(), os.path.expanduser("~")]  # the project's and the user's files, before they move
    layers = [_limit_resources(limits), _enter_workdir(limits.workdir), _scrub_environment()]
    if limits.isolate_network and _unshare_network():
        layers.append("network namespace")
    programs, executable = _toolchain(limits.programs)
    if limits.landlock:
        abi = _restrict_with_landlock(limits.workdir, executable, limits.gpu)
        if abi:
            layers.append(f"landlock abi {abi}")
    reads = _ReadRules(os.path.realpath(limits.workdir), protected)
    sys.addaudithook(_AuditHook(os.path.realpath(limits.workdir), programs, limits.gpu, reads, on_refusal))
    layers.append("audit hook")
    _layers[:] = layers
    return layers


def _scrub_environment() -> str:
    """Remove every variable not named in ``ENVIRONMENT_KEPT`` (``os.environ`` deletion unsets it in C too)."""
    for name in list(os.environ):
        if not name.startswith(ENVIRONMENT_KEPT):
            del os.environ[name]
    return "scrubbed environment"


def _toolchain(programs: tuple[str, ...]) -> tuple[frozenset[str], list[str]]:
    """The allowed programs found on PATH (by name), and the directories Landlock must let them execute beneath:
    theirs, plus where compiler drivers keep their passes (cc1, collect2, ...)."""
    names, directories = set(), set()
    for name in programs:
        path = shutil.which(name)
        if path is not None:
            names.add(name)
            directories.update({os.path.dirname(path), os.path.dirname(os.path.realpath(path))})
    if names:
        directories.update(d for d in COMPILER_PASS_DIRECTORIES if os.path.isdir(d))
        loaders = (os.path.realpath(path) for pattern in DYNAMIC_LOADERS for path in glob.glob(pattern))
        directories.update(os.path.dirname(path) for path in loaders)
    return frozenset(names), sorted(directories)


def _limit_resources(limits: SandboxLimits) -> str:
    memory = resource.RLIM_INFINITY if limits.gpu else limits.memory_bytes
    for kind, soft, hard in (
        (resource.RLIMIT_AS, memory, memory),
        # The soft CPU limit sends SIGXCPU (reported as such); the hard one, a little later, SIGKILL.
        (resource.RLIMIT_CPU, limits.cpu_seconds, limits.cpu_seconds + CPU_HARD_LIMIT_GRACE_S),
        (resource.RLIMIT_FSIZE, limits.file_size_bytes, limits.file_size_bytes),
        (resource.RLIMIT_CORE, 0, 0),
    ):
        resource.setrlimit(kind, (soft, hard))
    return "rlimits"


def _enter_workdir(workdir: str) -> str:
    os.chdir(workdir)
    for name in PRIVATE_DIRECTORY_VARIABLES:
        os.environ[name] = workdir
    tempfile.tempdir = workdir
    return "private workdir"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _unshare_network() -> bool:
    """Move this thread into a fresh, empty network namespace (needs CAP_SYS_ADMIN; else skipped)."""
    return platform.system() == "Linux" and _libc().unshare(CLONE_NEWNET) == 0


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]  # fmt: skip


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _restrict_with_landlock(workdir: str, executable: list[str], gpu: bool) -> int:
    """Allow writes only under ``workdir`` (and /dev/null; the GPU's device files for a GPU job), execve only
    beneath ``executable``, no TCP, no outside signals.

    Returns the Landlock ABI version used, or 0 when the kernel has no Landlock."""
    if platform.system() != "Linux":
        return 0
    libc = _libc()
    syscall = libc.syscall
    abi = syscall(LANDLOCK_SYSCALLS["create_ruleset"], None, ctypes.c_size_t(0), LANDLOCK_CREATE_RULESET_VERSION)
    if abi <= 0:
        return 0
    writes = FS_WRITE_LIKE | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(writes | FS_EXECUTE, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0,
                        SCOPE_SIGNAL | SCOPE_ABSTRACT_UNIX_SOCKET if abi >= 6 else 0)  # fmt: skip
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = syscall(LANDLOCK_SYSCALLS["create_ruleset"], ctypes.byref(attr), ctypes.c_size_t(size), 0)
    if ruleset < 0:
        return 0
    try:
        _allow_beneath(syscall, ruleset, workdir, writes)
        devices = [*WRITABLE_DEVICES, *(gpu_devices() if gpu else [])]
        for device in devices:
            _allow_beneath(syscall, ruleset, device, FS_WRITE_FILE | (FS_TRUNCATE if abi >= 3 else 0))
        for directory in executable:
            _allow_beneath(syscall, ruleset, directory, FS_EXECUTE)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return 0
        if syscall(LANDLOCK_SYSCALLS["restrict_self"], ruleset, 0) != 0:
            return 0
    finally:
        os.close(ruleset)
    return abi


def _allow_beneath(syscall: ctypes._CFuncPtr, ruleset: int, path: str, access: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        rule = _PathBeneathAttr(access, fd)
        if syscall(LANDLOCK_SYSCALLS["add_rule"], ruleset, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), 0) != 0:
            raise OSError(ctypes.get_errno(), f"landlock_add_rule failed for {path}")
    finally:
        os.close(fd)


REFUSED_EVENTS = {
    "os.system": "run a shell command",
    "subprocess.Popen": "start a process",
    "os.exec": "replace the process with another program",
    "os.posix_spawn": "start a process",
    "os.spawn": "start a process",
    "os.fork": "fork the process",
    "os.forkpty": "fork the process",
    "os.kill": "send a signal to a process",
    "os.killpg": "send a signal to a process group",
    "signal.pthread_kill": "send a signal to a thread",
    "socket.__new__": "open a network socket",
    "socket.connect": "open a network connection",
    "socket.bind": "listen on the network",
    "socket.getaddrinfo": "resolve a network address",
    "socket.gethostbyname": "resolve a network address",
    "ctypes.dlopen": "load a native library",
    "ctypes.dlsym": "look up native code",
    "ctypes.cdata": "read raw memory",
}
"""Audit events refused outright, with what the attempt means in plain words."""

PATH_EVENTS = frozenset(
    {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.symlink", "os.link", "os.truncate", "os.chmod",
     "os.chown", "os.utime", "shutil.rmtree", "shutil.move", "shutil.copyfile", "shutil.copytree"}
)  # fmt: skip
"""Audit events that change the file system: allowed only inside the working directory."""

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def gpu_devices() -> list[str]:
    return sorted(path for pattern in GPU_DEVICE_PATTERNS for path in glob.glob(pattern))


FRAME_EVENTS = {
    "sys._getframe": "read the interpreter's stack frames",
    "sys._current_frames": "read the interpreter's stack frames",
    "exec": "run code built at run time",
}
"""Refused when candidate code raises them itself, or through a module that hands frames back to its caller
(``FRAME_HANDING_MODULES``): the routes to the trainer's frames and so to the batch's targets. Trusted code that
reads its own caller's frame (typing, enum, sympy) or runs generated code (dataclasses, imports) is let through,
even when a candidate called it."""

FRAME_HANDING_MODULES = frozenset({"inspect", "traceback", "logging", "bdb", "pdb", "cgitb"})

FRAME_ATTRIBUTES = frozenset({"tb_frame", "gi_frame", "cr_frame", "ag_frame"})
"""Attributes that hand out a frame object; reading them raises ``object.__getattr__``."""

OBJECT_GRAPH_EVENTS = {
    "sys.settrace": "trace the interpreter",
    "sys.setprofile": "trace the interpreter",
    "gc.get_objects": "search the interpreter's objects",
    "gc.get_referrers": "search the interpreter's objects",
    "gc.get_referents": "search the interpreter's objects",
}
"""Refused whenever candidate code is on the stack: they reach every object (and frame) in the process."""

PROCESS_SECRETS = re.compile(r"^/proc/[^/]+/(task/[^/]+/)?(environ|cmdline|mem)$")
"""Where another process's (the orchestrator's) or this one's original environment and memory can be read."""


class _ReadRules:
    """Which files candidate code may read: anything beneath the job's directory, Python's and asiarch's code
    (imports), and the system's directories; not the evaluation data, a process's environment or memory, or the
    project's and the user's files (``protected``: the directories the job started in)."""

    def __init__(self, workdir: str, protected: list[str]) -> None:
        self.workdir = workdir
        self.protected = [os.path.realpath(p) for p in protected if os.path.realpath(p) != os.sep]
        roots = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(PACKAGE_DIRECTORY), *site.getsitepackages()}
        self.code = [os.path.realpath(root) for root in roots]
        self.data = [os.path.realpath(data) for data in PROTECTED_DATA]

    def refused(self, path: str) -> str | None:
        resolved = os.path.realpath(path)
        if _beneath(resolved, self.workdir):
            return None
        if any(_beneath(resolved, data) for data in self.data):
            return "the evaluation data"
        if any(_beneath(resolved, root) for root in self.code):
            return None
        if PROCESS_SECRETS.match(resolved):
            return "a process's environment, command line or memory"
        if any(_beneath(resolved, root) for root in self.protected):
            return "the project's or the user's files"
        return None


def _beneath(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


class _AuditHook:
    """Refuses and records what a candidate may not do; called by the interpreter for every audit event."""

    def __init__(
        self,
        workdir: str,
        programs: frozenset[str],
        gpu: bool,
        reads: _ReadRules,
        on_refusal: Callable[[str], None] | None,
    ) -> None:
        self.workdir = workdir
        self.programs = programs
        self.devices = frozenset(WRITABLE_DEVICES) | (frozenset(gpu_devices()) if gpu else frozenset())
        self.reads = reads
        self.on_refusal = on_refusal
        self.reported = False
        self.looking = threading.local()

    def __call__(self, event: str, args: tuple) -> None:
        if event in SPAWN_EVENTS and self._toolchain_program(event, args):
            return
        if event in REFUSED_EVENTS:
            self._refuse(f"tried to {REFUSED_EVENTS[event]} ({event} {_brief(args)})")
        elif event == "object.__getattr__":
            if args[1] in FRAME_ATTRIBUTES and self._where()[0]:
                self._refuse(f"tried to read the interpreter's stack frames (.{args[1]})")
        elif event in FRAME_EVENTS:
            if self._where()[0]:
                self._refuse(f"tried to {FRAME_EVENTS[event]} ({event})")
        elif event in OBJECT_GRAPH_EVENTS:
            if self._where()[1]:
                self._refuse(f"tried to {OBJECT_GRAPH_EVENTS[event]} ({event})")
        elif event == "open":
            if _opens_for_writing(args):
                if not self._inside(args[0]):
                    self._refuse(f"tried to write the file {_brief(args[:1])} outside its working directory")
            elif isinstance(args[0], (str, bytes)):
                what = self.reads.refused(os.fsdecode(args[0]))
                if what is not None and self._where()[1]:
                    self._refuse(f"tried to read {what} ({_brief(args[:1])})")
        elif event in PATH_EVENTS and not all(self._inside(a) for a in args if isinstance(a, (str, bytes))):
            self._refuse(f"tried to change the file system outside its working directory ({event} {_brief(args)})")

    def _where(self) -> tuple[bool, bool]:
        """Whether candidate code raised the event (directly, or through a module that hands frames back to its
        caller), and whether candidate code is anywhere on the current thread's stack. Candidate code is a
        candidate module's function, or code from a file in the job's directory (which only the candidate can have
        written). Looking raises ``sys._getframe`` itself, which this hook then lets through."""
        if getattr(self.looking, "now", False):
            return False, False
        self.looking.now = True
        try:
            frame: types.FrameType | None = sys._getframe(2)
            raised: bool | None = None
            while frame is not None:
                module = str(frame.f_globals.get("__name__", ""))
                candidate = module.startswith(CANDIDATE_MODULE_PREFIX) or _beneath(
                    frame.f_code.co_filename, self.workdir
                )
                if raised is None and module not in FRAME_HANDING_MODULES:
                    raised = candidate
                if candidate:
                    return bool(raised), True
                frame = frame.f_back
            return False, False
        finally:
            self.looking.now = False

    def _toolchain_program(self, event: str, args: tuple) -> bool:
        """Is this the start of an allowed program? (Popen passes (executable, args, ...); exec and posix_spawn
        pass (path, args, ...).)"""
        program = args[0] if args and args[0] is not None else None
        if program is None and event == "subprocess.Popen" and len(args) > 1 and args[1]:
            program = args[1][0]
        return isinstance(program, (str, bytes)) and os.path.basename(os.fsdecode(program)) in self.programs

    def _inside(self, path: object) -> bool:
        if not isinstance(path, (str, bytes)):
            return True  # a file descriptor: already open before the sandbox, or opened inside it
        resolved = os.path.realpath(os.fsdecode(path))
        return resolved in self.devices or _beneath(resolved, self.workdir)

    def _refuse(self, what: str) -> None:
        message = f"sandbox: the code {what}; candidates may not touch processes, the network, files outside their directory or the interpreter's internals"
        if not self.reported and self.on_refusal is not None:
            self.reported = True
            self.on_refusal(message)
        _violations.append(message)
        raise SandboxViolation(message)


def _opens_for_writing(args: tuple) -> bool:
    _, mode, flags = (*args, None, None)[:3]
    if isinstance(mode, str) and any(letter in mode for letter in "wax+"):
        return True
    return isinstance(flags, int) and bool(flags & WRITE_FLAGS)


def _brief(args: tuple) -> str:
    text = " ".join(repr(a) for a in args)
    return text if len(text) <= 80 else text[:77] + "..."


JOB_DIRECTORY_PREFIX = "asiarch-job-"


def workdir_for_job() -> Path:
    """A fresh private directory for one job (the executor removes it afterwards)."""
    return Path(tempfile.mkdtemp(prefix=JOB_DIRECTORY_PREFIX))


def job_workers(orchestrator: int) -> list[int]:
    """The pids of a process's children that are running a job in the sandbox (their working directory is a job's),
    for tools that watch or fault-inject a campaign from outside (Linux /proc)."""
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            parent = int(status.read_text().split("PPid:")[1].split()[0])
            if parent == orchestrator and Path(os.readlink(status.parent / "cwd")).name.startswith(
                JOB_DIRECTORY_PREFIX
            ):
                found.append(int(status.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    return found
