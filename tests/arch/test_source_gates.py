"""Static gates: parse, contract, imports and escape hatches, decided from the source alone."""

from pathlib import Path

import pytest

from asiarch.arch.source_gates import run_source_gates

ROOT = Path(__file__).resolve().parents[2]
HEADER = "import torch\n\n\nclass Mixer(torch.nn.Module):\n    def __init__(self, d_model, num_heads):\n        super().__init__()\n\n    def forward(self, x):\n"


def check(body: str, header: str = HEADER):
    return run_source_gates(header + body, "candidate.py")


def good_files():
    files = [ROOT / "examples" / "gated_deltanet_mixer.py", ROOT / "examples" / "asi_arch_deltanet.py"]
    files += sorted((ROOT / "tests" / "arch" / "fixtures").glob("*.py"))
    return files + sorted((ROOT / "tests" / "arch" / "defects").glob("*.py"))


@pytest.mark.parametrize("path", good_files(), ids=lambda p: p.name)
def test_well_formed_candidates_pass(path):
    verdicts = run_source_gates(path.read_text(), str(path))
    assert all(v.passed for v in verdicts), verdicts[-1].reason


@pytest.mark.parametrize(
    "body,words",
    [
        ("        import os\n        return x\n", "imports os"),
        ("        from subprocess import run\n        return x\n", "imports from subprocess"),
        ("        module = __import__('os')\n        return x\n", "uses __import__"),
        ("        eval('1')\n        return x\n", "uses eval"),
        ("        exec('y = 1')\n        return x\n", "uses exec"),
        ("        open('/etc/passwd').read()\n        return x\n", "uses open"),
        ("        getattr(torch, 'lo' + 'ad')\n        return x\n", "computed attribute name"),
        ("        getattr(x, '__class__')\n        return x\n", "'__class__'"),
        ("        ().__class__.__bases__[0].__subclasses__()\n        return x\n", ".__subclasses__"),
        ("        torch.load('weights.pt')\n        return x\n", ".load"),
        ("        torch.manual_seed(0)\n        return x\n", ".manual_seed"),
        ("        self.forward.__globals__['torch']\n        return x\n", ".__globals__"),
        ("        torch.hub.list('x')\n        return x\n", ".hub"),
    ],
)
def test_escape_hatches_are_refused_with_the_line(body, words):
    verdicts = check(body)
    assert verdicts[-1].gate == "imports" and not verdicts[-1].passed
    assert words in verdicts[-1].reason and "line 9" in verdicts[-1].reason


def test_fla_imports_only_for_asi_arch_files():
    body = "        return x\n"
    assert not check(body, "from fla.modules import RMSNorm\n" + HEADER)[-1].passed
    asi = HEADER.replace("class Mixer", "class DeltaNet")
    assert check(body, "from fla.modules import RMSNorm\n" + asi)[-1].passed
    assert not check(body, "from fla.ops.delta_rule import chunk_delta_rule\n" + asi)[-1].passed


def test_type_checking_imports_are_allowed():
    header = (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from transformers.processing_utils import Unpack\n"
    )
    assert check("        return x\n", header + HEADER)[-1].passed


def test_parse_and_contract_failures():
    (parse,) = run_source_gates("class Mixer(:\n", "c.py")
    assert parse.gate == "parse" and "line 1" in parse.reason
    _, contract = run_source_gates("import torch\nclass Layer(torch.nn.Module):\n    pass\n", "c.py")
    assert contract.gate == "contract" and "no top-level class Mixer" in contract.reason
    _, contract = run_source_gates("class Mixer:\n    def __init__(self, d_model, num_heads):\n        pass\n", "c.py")
    assert not contract.passed and "no forward method" in contract.reason


def test_an_oversized_source_fails_the_parse_gate_before_it_is_parsed():
    verdicts = run_source_gates("# filler\n" * 1000, "generated.py", max_bytes=4096)
    assert [(v.gate, v.passed) for v in verdicts] == [("parse", False)]
    assert "at most 4 KiB (gates.max_source_kb)" in verdicts[0].reason
