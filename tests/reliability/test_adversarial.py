"""Candidates that try to cheat the evaluation or leave the sandbox: each is refused with its reason recorded, or
contained (it runs, and gains nothing). Every file passes through the real gate job in a sandboxed worker; those
whose trick acts during training also run a real tiny training job."""

import os
import time
from pathlib import Path

import pytest

from asiarch.agents.engineer import Engineer
from asiarch.bench.stages import TrainingJob
from asiarch.config import ExecutionConfig, GatesConfig, load_config
from asiarch.execute.gate_job import gates_for
from asiarch.execute.local import LocalExecutor
from tests.helpers import tiny_run

ATTACKS = Path(__file__).parent / "adversarial"
SECRET = "ASIARCH_TEST_SECRET"
IMPORT_CHECK = ("parse", "contract", "imports")
SANDBOX = ("parse", "contract", "imports", "load")
EXIT_GRACE_S = 10.0


def check(name: str) -> list:
    config = load_config(None, ["execution.workers=1"])
    return Engineer(config, LocalExecutor(config.execution)).check(ATTACKS / name)


@pytest.mark.reliability
@pytest.mark.parametrize(
    "attack,words",
    [
        ("peek_stack_sys.py", "imports sys"),
        ("peek_traceback_attributes.py", "accesses ."),
        ("peek_globals.py", "uses globals"),
        ("steal_environment_static.py", "accesses .environ"),
        ("monkeypatch_static.py", "torch.nn.functional.cross_entropy, which rebinds library code"),
        ("reseed_static.py", "accesses .manual_seed"),
    ],
)
def test_spelled_out_attacks_are_refused_by_the_import_check_before_anything_runs(attack, words):
    verdicts = check(attack)
    assert [(v.gate, v.passed) for v in verdicts] == [("parse", True), ("contract", True), ("imports", False)]
    assert words in verdicts[-1].reason


@pytest.mark.reliability
@pytest.mark.parametrize(
    "attack,words",
    [
        ("peek_stack_inspect.py", "read the interpreter's stack frames (sys._getframe)"),
        ("peek_traceback_module.py", "read the interpreter's stack frames (.tb_frame)"),
        ("search_objects.py", "search the interpreter's objects (gc.get_objects)"),
        ("import_from_workdir.py", "read the interpreter's stack frames (sys._getframe)"),
        ("read_eval_data.py", "tried to read the evaluation data"),
        ("read_process_environment.py", "tried to read a process's environment"),
        ("spawn_process.py", "start a process"),
        ("fork_bomb.py", "fork the process"),
        ("clear_record.py", "start a process"),
        ("monkeypatch_loss.py", "replaced torch.nn.functional.cross_entropy (monkeypatching)"),
        ("monkeypatch_trainer.py", "(monkeypatching)"),
    ],
)
def test_disguised_attacks_pass_the_import_check_and_are_refused_by_the_sandbox(attack, words):
    verdicts = check(attack)
    assert tuple(v.gate for v in verdicts[: len(SANDBOX)]) == SANDBOX and all(v.passed for v in verdicts[:-1])
    assert verdicts[-1].gate == "sandbox" and not verdicts[-1].passed
    assert words in verdicts[-1].reason, verdicts[-1].reason


@pytest.mark.reliability
@pytest.mark.parametrize(
    "attack,gate,words",
    [
        ("length_switch_softmax.py", "prefix_consistency", "depends on how long the input is"),
        ("window_covers_context.py", "receptive_field", "a finite attention window of about 128 tokens"),
        ("block_local_softmax.py", "receptive_field", "a finite attention window of about"),
        ("position_switch_softmax.py", "local_growth", "compute grows length^0.3"),
        ("position_switch_elementwise.py", "local_growth", "elements grows length^0.5"),
        ("window_padded_to_cover.py", "local_growth", "slower than the reference DeltaNet's from 64 to 128"),
    ],
)
def test_layers_that_are_softmax_attention_only_at_the_evaluated_lengths_are_refused(attack, gate, words):
    """Each is causal at every fixed length and cheap at the lengths the cost gates time; the length gates see it
    (prefix consistency, the receptive field, and the local growth law of the sub-quadratic gate)."""
    verdicts = check(attack)
    assert verdicts[-1].gate == gate and not verdicts[-1].passed and all(v.passed for v in verdicts[:-1])
    assert "causality" in [v.gate for v in verdicts[:-1]]
    assert words in verdicts[-1].reason and "\n" not in verdicts[-1].reason, verdicts[-1].reason


@pytest.mark.reliability
def test_a_candidate_looking_for_secrets_finds_the_environment_scrubbed(monkeypatch):
    monkeypatch.setenv(SECRET, "hunter2")  # workers are spawned from this process's environment
    verdicts = check("steal_environment.py")
    assert all(v.passed for v in verdicts), verdicts[-1]
    assert not any("hunter2" in v.reason or "hunter2" in v.detail for v in verdicts)


def train(attack: str, steps: int = 6, recheck: GatesConfig | None = None):
    executor = LocalExecutor(ExecutionConfig(workers=1, job_timeout_s=120))
    job = TrainingJob(str(ATTACKS / attack), "mqar", tiny_run(steps=steps), 3e-3, seed=7, recheck=recheck)
    return executor.result(executor.submit(job))


@pytest.mark.reliability
def test_a_window_that_wakes_during_training_passes_the_gates_and_its_trained_layer_is_refused():
    """Dormant through the gate job, awake after 200 training steps: what is scored is the trained layer."""
    attack = "window_wakes_after_training_steps.py"
    assert all(v.passed for v in check(attack))
    gates = gates_for(load_config(None))
    outcome = train(attack, steps=300, recheck=gates)
    assert outcome.error is not None and "TrainedLayerRefused: after training, the mixer of block 0" in outcome.error
    assert "receptive_field" in outcome.error and "window of about 128 tokens" in outcome.error
    assert train(attack, steps=100, recheck=gates).error is None  # asleep: the same check passes it


@pytest.mark.reliability
def test_a_layer_that_reseeds_torch_passes_the_gates_but_its_training_run_fails_with_the_reason():
    verdicts = check("reseed.py")
    assert all(v.passed for v in verdicts), verdicts[-1]  # the gates seed their own probes: no harm done there
    outcome = train("reseed.py")
    assert outcome.error is not None and "reseeded torch's global random generator" in outcome.error
    assert "seed 1234, the run's is 7" in outcome.error


@pytest.mark.reliability
def test_a_loss_replaced_during_training_fails_the_run_with_what_was_replaced():
    outcome = train("monkeypatch_loss.py")
    assert outcome.error == (
        "sandbox: the code replaced torch.nn.functional.cross_entropy (monkeypatching); candidates may not change "
        "torch or asiarch"
    )


@pytest.mark.reliability
def test_a_fork_bomb_leaves_no_process_behind():
    before = set(os.listdir("/proc"))
    check("fork_bomb.py")

    def left() -> set[str]:
        return {pid for pid in set(os.listdir("/proc")) - before if pid.isdigit() and _child_of_us(pid)}

    deadline = time.monotonic() + EXIT_GRACE_S  # on a loaded machine the finished worker takes a moment to exit
    while left() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert left() == set()


def _child_of_us(pid: str) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return int(status.split("PPid:")[1].split()[0]) == os.getpid()


@pytest.mark.reliability
def test_library_code_that_reads_frames_for_the_candidate_is_not_a_false_alarm():
    verdicts = check("benign_library_use.py")
    assert all(v.passed for v in verdicts), verdicts[-1]
