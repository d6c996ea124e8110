"""The Engineer gates real candidate files in sandboxed workers and repairs what fails."""

from pathlib import Path

import pytest

from asiarch.agents.engineer import Engineer, write_candidate
from asiarch.config import Config, load_config
from asiarch.execute.local import LocalExecutor
from asiarch.protocols import Proposal

ROOT = Path(__file__).resolve().parents[2]
DEFECTS = ROOT / "tests" / "arch" / "defects"
GOOD = (ROOT / "examples" / "gated_deltanet_mixer.py").read_text()


def engineer(*overrides: str, repairer=None) -> Engineer:
    cfg = load_config(None, ["execution.workers=1", *overrides])
    return Engineer(cfg, LocalExecutor(cfg.execution), repairer)


@pytest.mark.parametrize(
    "defect,words,leftover",
    [
        ("escape_shell.py", "start a process", "/tmp/asiarch-shell-escape"),
        ("escape_file.py", "outside its working directory", "/tmp/asiarch-file-escape"),
        ("escape_network.py", "network", None),
    ],
)
def test_escapes_fail_the_sandbox_gate_and_leave_no_trace(defect, words, leftover):
    if leftover:
        Path(leftover).unlink(missing_ok=True)
    verdicts = engineer().check(DEFECTS / defect)
    last = verdicts[-1]
    assert last.gate == "sandbox" and not last.passed and words in last.reason
    assert all(v.passed for v in verdicts[:-1]) and [v.gate for v in verdicts[:4]] == [
        "parse", "contract", "imports", "load"
    ]  # fmt: skip
    if leftover:
        assert not Path(leftover).exists()


def test_memory_bomb_fails_the_memory_gate_under_the_address_space_limit():
    verdicts = engineer().check(DEFECTS / "memory_bomb.py")
    assert verdicts[-1].gate == "memory" and "ran out of memory" in verdicts[-1].reason


def test_infinite_loop_fails_the_timeout_gate_and_the_worker_is_killed():
    verdicts = engineer("execution.gate_timeout_s=8").check(DEFECTS / "infinite_loop.py")
    assert [(v.gate, v.passed) for v in verdicts] == [("timeout", False)]
    assert "infinite loop" in verdicts[0].reason


class ScriptedRepairer:
    """Stands in for the Researcher's repair(): hands out prepared fixes in order, recording what it was told."""

    def __init__(self, *codes: str) -> None:
        self.codes = list(codes)
        self.told: list[str] = []

    def repair(self, proposal: Proposal, failure: str) -> Proposal:
        self.told.append(failure)
        return Proposal(proposal.name, proposal.motivation, self.codes.pop(0), proposal.parents, "repair")


def test_realize_repairs_until_the_gates_pass_and_records_every_attempt(tmp_path):
    leaky = (DEFECTS / "leak_roll.py").read_text()
    repairer = ScriptedRepairer((DEFECTS / "wrong_shape.py").read_text(), GOOD)
    realization = engineer(repairer=repairer).realize(Proposal("Rolled memory", "why not", leaky), tmp_path)
    assert [a.verdicts[-1].gate for a in realization.attempts] == ["causality", "shape", "local_growth"]
    assert [a.passed for a in realization.attempts] == [False, False, True]
    assert realization.candidate is realization.attempts[-1]
    assert realization.candidate.proposal.operator == "repair"
    assert repairer.told[0].startswith("gate causality failed: ") and "sees the future" in repairer.told[0]
    assert all(a.path.exists() and a.path.parent == tmp_path for a in realization.attempts)


def test_realize_gives_up_after_max_repairs(tmp_path):
    broken = (DEFECTS / "nan_output.py").read_text()
    repairer = ScriptedRepairer(broken, broken, broken)
    realization = engineer("engineer.max_repairs=2", repairer=repairer).realize(
        Proposal("Never finite", "", broken), tmp_path
    )
    assert len(realization.attempts) == 3 and realization.candidate is None
    assert all(a.verdicts[-1].gate == "finite" for a in realization.attempts)


def test_a_failing_repairer_ends_the_loop_with_the_attempts_kept(tmp_path):
    class Broken:
        def repair(self, proposal, failure):
            raise ConnectionError("endpoint unreachable")

    realization = engineer(repairer=Broken()).realize(
        Proposal("x", "", (DEFECTS / "nan_output.py").read_text()), tmp_path
    )
    assert len(realization.attempts) == 1 and realization.repair_error == "ConnectionError: endpoint unreachable"


def test_raised_exceptions_reach_the_repairer_with_their_traceback(tmp_path):
    code = (
        "import torch\n\nclass Mixer(torch.nn.Module):\n    def __init__(self, d_model, num_heads):\n"
        "        super().__init__()\n\n    def forward(self, x):\n        return x @ torch.ones(3, 3)\n"
    )
    (attempt,) = engineer().realize(Proposal("bad matmul", "", code), tmp_path).attempts
    assert attempt.verdicts[-1].gate == "shape" and "RuntimeError" in attempt.verdicts[-1].reason
    assert "Traceback" in attempt.failure and "forward" in attempt.failure


def test_same_code_is_written_to_the_same_file(tmp_path):
    first = write_candidate(Proposal("Gated Δ-Net / v2", "", GOOD), tmp_path)
    again = write_candidate(Proposal("Gated Δ-Net / v2", "", GOOD), tmp_path)
    assert first == again and first.name.startswith("gated_net_v2-")
    assert Config().engineer.max_repairs == 3
