"""The zoo's reference architectures written in the grammar: where a cold-start campaign begins.

Each spec generates code whose parameters carry the reference's names, so the generated layer loads
the reference's weights and computes the same function (tested), which makes every reference a
parent the offline researcher can mutate. Softmax attention is expressible for completeness but its
global path is never sampled: it is quadratic.
"""

from __future__ import annotations

from asiarch.agents.researcher.offline.grammar import GlobalPath, MemoryPath, Spec

ZOO_SPECS: dict[str, Spec] = {
    "softmax": Spec(paths=(GlobalPath(),), head_norm=False),
    "deltanet": Spec(paths=(MemoryPath(feature_map="identity", rules=("delta",)),)),
    "gated_deltanet": Spec(paths=(MemoryPath(rules=("gated_delta",)),), output_gate=True),
    "gla": Spec(paths=(MemoryPath(rules=("vector_decay",)),), output_gate=True),
    "mamba2": Spec(paths=(MemoryPath(rules=("scalar_decay",)),), output_gate=True, value_skip=True),
    "retnet": Spec(paths=(MemoryPath(rules=("fixed_decay",)),)),
    "linear_elu": Spec(paths=(MemoryPath(feature_map="elu_plus_one", rules=("additive",)),), head_norm=False),
}
