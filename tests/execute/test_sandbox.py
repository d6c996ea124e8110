"""The sandbox, probed from inside real worker processes: what it refuses, records and limits."""

import shutil
import socket
import threading
from pathlib import Path

import pytest

from asiarch.bench.stages import TrainingJob
from asiarch.config import ExecutionConfig, SandboxConfig
from asiarch.execute.local import LocalExecutor
from tests.execute import sandbox_probes
from tests.helpers import tiny_run


def run_probe(probe, target: str = "", timeout: float = 60, **sandbox):
    pool = LocalExecutor(ExecutionConfig(workers=1, job_timeout_s=timeout, sandbox=SandboxConfig(**sandbox)))
    (outcome,) = pool.run([target], runner=probe)
    return outcome


def test_worker_runs_in_a_private_directory_under_an_address_space_limit():
    result = run_probe(sandbox_probes.observe, memory_limit_gb=3).result
    assert {"rlimits", "private workdir", "audit hook"} <= set(result["layers"])
    assert result["cwd"] == result["tmpdir"] and Path(result["cwd"]).name.startswith("asiarch-job-")
    assert not Path(result["cwd"]).exists(), "the job directory is removed after the job"
    assert result["address_space"] == 3 * 2**30


def test_network_namespace_leaves_only_loopback_where_permitted():
    result = run_probe(sandbox_probes.observe).result
    if "network namespace" not in result["layers"]:
        pytest.skip("this kernel or user may not create network namespaces")
    assert result["interfaces"] == ["lo"]


def test_writing_outside_the_job_directory_is_refused_and_recorded(tmp_path):
    target = tmp_path / "escaped.txt"
    outcome = run_probe(sandbox_probes.write_inside_then_outside, str(target))
    assert outcome.error.startswith("sandbox:") and "outside its working directory" in outcome.error
    assert not target.exists()


def test_native_writes_outside_are_refused_by_landlock(tmp_path):
    target = tmp_path / "escaped.pt"
    result = run_probe(sandbox_probes.native_write_outside, str(target)).result
    if not any(layer.startswith("landlock") for layer in result["layers"]):
        pytest.skip("this kernel has no Landlock")
    assert result["error"] is not None and not target.exists()


def test_a_network_connection_is_refused_even_when_the_error_is_caught():
    server = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    server.settimeout(10)
    listener = threading.Thread(target=lambda: _accept_once(server, accepted), daemon=True)
    listener.start()
    outcome = run_probe(sandbox_probes.connect, f"127.0.0.1:{server.getsockname()[1]}")
    server.close()
    assert outcome.error.startswith("sandbox:") and "network" in outcome.error
    assert accepted == []


def _accept_once(server: socket.socket, accepted: list) -> None:
    try:
        accepted.append(server.accept()[0])
    except OSError:
        pass


def test_signalling_another_process_is_refused():
    outcome = run_probe(sandbox_probes.signal_parent)
    assert outcome.error.startswith("sandbox:") and "signal" in outcome.error


def test_a_cpu_hog_is_stopped_by_its_cpu_time_limit_before_the_wall_clock_one():
    outcome = run_probe(sandbox_probes.spin, timeout=20, cpu_limit_factor=0.1)
    assert "CPU-time limit" in outcome.error and not outcome.timed_out


def _training_job(program: str, **train):
    run = tiny_run()
    return TrainingJob(program, "mqar", run.model_copy(update={"train": run.train.model_copy(update=train)}), 1e-3, 0)


def _start(program: str, **train):
    pool = LocalExecutor(ExecutionConfig(workers=1, job_timeout_s=120))
    (outcome,) = pool.run([_training_job(program, **train)], runner=sandbox_probes.start_program)
    return outcome


@pytest.mark.skipif(shutil.which("g++") is None, reason="no C++ compiler on this machine")
def test_a_compiling_job_may_start_its_toolchain_and_nothing_else():
    allowed = _start("g++", compile=True)
    assert allowed.error is None and allowed.result["returncode"] == 0, allowed.error
    refused = _start("sh", compile=True)
    assert refused.error.startswith("sandbox:") and "start a process" in refused.error


def test_a_job_that_does_not_compile_may_start_no_compiler():
    outcome = _start("g++")
    assert outcome.error.startswith("sandbox:") and "start a process" in outcome.error
