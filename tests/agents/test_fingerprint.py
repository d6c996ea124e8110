"""Structural fingerprints of real candidate files: disguises vanish, design changes stay visible."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from asiarch.agents.fingerprint import fingerprint, structure_similarity

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
GATED = (EXAMPLES / "gated_deltanet_mixer.py").read_text()
ASI_ARCH = (EXAMPLES / "asi_arch_deltanet.py").read_text()

RENAMES = {
    "Mixer": "GatedMemoryLayer",
    "ShortConv": "CausalDepthwise",
    "channels": "width",
    "kernel_size": "taps",
    "conv_size": "conv_taps",
    "min_timescale": "fastest",
    "max_timescale": "slowest",
    "head_dim": "dim_per_head",
    "q_proj": "to_query",
    "k_proj": "to_key",
    "v_proj": "to_value",
    "decay_proj": "forget",
    "rates": "forget_rates",
    "gate_rank": "rank",
    "gate_down": "squeeze",
    "gate_up": "expand",
    "norm_weight": "scale",
    "_heads": "_split",
    "log_decay": "log_forget",
    "gate": "out_gate",
    "x": "hidden",
}


def renamed(code: str) -> str:
    """Every identifier of ``RENAMES`` renamed where it is an identifier (not inside ``nn.Linear.weight``)."""
    for old, new in RENAMES.items():
        code = re.sub(rf"(?<![\w.]){old}\b|(?<=self\.){old}\b", new, code)
    return code


def recommented(code: str) -> str:
    code = re.sub(r"#[^\n]*", "# (comment rewritten)", code)
    return re.sub(r'"""[^"]*"""', '"""Another docstring, other words."""', code)


def realiased(code: str) -> str:
    """Imports reordered and re-aliased: ``F.normalize`` becomes ``functional.normalize``."""
    code = code.replace("import torch.nn.functional as F\n", "").replace("F.", "functional.")
    return code.replace("import math\n", "from torch.nn import functional\nimport math\n")


def test_renamed_reformatted_recommented_and_realiased_copies_have_the_same_fingerprint():
    original = fingerprint(GATED)
    disguises = {
        "renamed": renamed(GATED),
        "reformatted (ast.unparse)": ast.unparse(ast.parse(GATED)),
        "recommented": recommented(GATED),
        "realiased imports": realiased(GATED),
        "all at once": ast.unparse(ast.parse(realiased(recommented(renamed(GATED))))),
    }
    for label, code in disguises.items():
        assert code != GATED
        compile(code, label, "exec")
        assert fingerprint(code) == original, label
        assert structure_similarity(fingerprint(code), original) == 1.0


def test_hyper_parameter_defaults_and_added_motifs_make_a_different_design():
    original = fingerprint(GATED)
    longer_conv = fingerprint(GATED.replace("conv_size: int = 4", "conv_size: int = 8"))
    wider_window = fingerprint(GATED.replace("chunk_size: int = 64", "chunk_size: int = 32"))
    value_skip = fingerprint(
        GATED.replace(
            "        self.o_proj = nn.Linear(d_model, d_model, bias=False)\n",
            "        self.o_proj = nn.Linear(d_model, d_model, bias=False)\n"
            "        self.skip = nn.Parameter(torch.ones(num_heads, 1, 1))\n",
        ).replace("        o = o * torch.rsqrt(", "        o = o + self.skip * v\n        o = o * torch.rsqrt(")
    )
    for changed in (longer_conv, wider_window, value_skip):
        assert changed.exact != original.exact
        assert 0.8 < structure_similarity(changed, original) < 1.0
    assert longer_conv.numbers != original.numbers and wider_window.numbers != original.numbers
    assert structure_similarity(longer_conv, wider_window) < 1.0


def test_an_inserted_statement_renames_nothing_else():
    """Naming by first appearance would shift every later attribute's name and drop this to about 0.6."""
    padded = GATED.replace(
        "        self.num_heads = num_heads\n", "        self.label = None\n        self.num_heads = num_heads\n"
    )
    similarity = structure_similarity(fingerprint(padded), fingerprint(GATED))
    assert 0.95 < similarity < 1.0


def test_keywords_follow_renamed_parameters_of_local_callees_but_not_external_ones():
    code = (
        "import torch\n\n"
        "def mix(x, scale=2.0):\n    return torch.cumsum(x * scale, dim=1)\n\n"
        "def run(x):\n    return mix(x, scale=3.0)\n"
    )
    local_renamed = code.replace("scale", "gain")
    external_changed = code.replace("dim=1", "axis=1")
    assert fingerprint(local_renamed) == fingerprint(code)
    assert fingerprint(external_changed).exact != fingerprint(code).exact


def test_distinct_designs_share_little_structure():
    assert structure_similarity(fingerprint(GATED), fingerprint(ASI_ARCH)) < 0.3


def test_code_that_does_not_parse_is_compared_line_by_line():
    broken = GATED.replace("def forward(self, x", "def forward(self x")
    assert fingerprint(broken) == fingerprint("# a comment\n" + broken.replace("\n", "\n\n"))
    assert 0.9 < structure_similarity(fingerprint(broken), fingerprint(broken + "\nextra = 1\n")) < 1.0
    too_deep = "x = " + " + ".join(["a"] * 5000) + "\n"
    assert fingerprint(too_deep) != fingerprint(too_deep.replace("a", "b"))
