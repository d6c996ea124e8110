"""Job runners that try, from inside a sandboxed worker, what candidates must not do.

Module-level functions, so a spawned worker can import them; each returns what it observed.
"""

import os
import resource
import socket
import subprocess

import torch

from asiarch.execute.sandbox import active_layers


def observe(target: str, threads: int, report) -> dict:
    return {
        "layers": active_layers(),
        "cwd": os.getcwd(),
        "tmpdir": os.environ["TMPDIR"],
        "address_space": resource.getrlimit(resource.RLIMIT_AS)[0],
        "interfaces": [name for _, name in socket.if_nameindex()],
    }


def write_inside_then_outside(target: str, threads: int, report) -> dict:
    with open("inside.txt", "w") as handle:
        handle.write("allowed")
    with open(target, "w") as handle:
        handle.write("escaped")
    return {}


def native_write_outside(target: str, threads: int, report) -> dict:
    """torch.save writes from C++, which no Python audit hook sees; only Landlock can refuse it."""
    try:
        torch.save(torch.zeros(3), target)
    except Exception as exc:  # noqa: BLE001 - the refusal is the observation
        return {"layers": active_layers(), "error": f"{type(exc).__name__}: {exc}"}
    return {"layers": active_layers(), "error": None}


def connect(target: str, threads: int, report) -> dict:
    host, port = target.split(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        pass  # caught, but the attempt is still recorded
    return {}


def signal_parent(target: str, threads: int, report) -> dict:
    os.kill(os.getppid(), 0)
    return {}


def spin(target: str, threads: int, report) -> dict:
    while True:
        pass


def start_program(job, threads: int, report) -> dict:
    """Start the program named in the job's candidate field (a training job, so its settings pick the toolchain)."""
    completed = subprocess.run([job.candidate, "--version"], capture_output=True, text=True, timeout=60)
    return {"returncode": completed.returncode, "layers": active_layers()}
