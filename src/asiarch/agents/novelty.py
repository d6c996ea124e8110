"""The novelty filter: rejects a proposal that repeats an earlier experiment of the campaign.

Training a design twice teaches nothing, and a researcher (an LLM above all) readily proposes the
same thing again under a new name. Two signals, each with explicit thresholds (``novelty`` config):
the structure of the code (``asiarch.agents.fingerprint``: a normalised syntax tree, exact and by
subtree Jaccard similarity) and the motivation (cosine similarity of offline MiniLM embeddings).

Rules, in order:
1. identical normalised code is a repeat, whatever the motivation says;
2. code with the same numeric literals, structure ≥ ``structure_threshold`` and motivation ≥
   ``motivation_threshold`` is a repeat (a reordered or padded copy told the same way). Code whose
   numbers changed is a new hyper-parameter setting and never a repeat by threshold;
3. otherwise, structure ≥ ``borderline_structure`` or motivation ≥ ``borderline_motivation`` is
   borderline: the proposal passes unless the optional judge (an LLM, supplied by the caller) says
   it repeats the closest borderline experiment; everything else is novel.

Fingerprints and motivation vectors of the history are cached, so judging a proposal costs one parse,
one embedding and a pass over cached sets.

How the defaults were chosen (measured on ASI-Arch's 106 published designs, the two examples and a
simulated 200-proposal offline campaign):
- renamed + reformatted + recommented + import-reordered copies of all 117 real files: identical
  fingerprints; two swapped ``__init__`` statements or one inserted dead line: structure ≥ 0.96 on
  all 108 full-size files, same numbers; one doubled hyper-parameter default: 0.87–0.99, numbers differ;
- distinct designs: ASI-Arch pairs structure median 0.32, max 0.85; offline one-edit parent/child
  pairs median 0.78, up to 0.96. Motivations of distinct designs in this narrow field are alike
  (ASI-Arch pairs median 0.70, max 0.88; templated offline motivations up to 0.99), and MiniLM
  scores a hand-written paraphrase of one motivation only 0.77, so the motivation cannot find a
  reworded idea alone: that is the judge's job;
- hence ``structure_threshold`` 0.95 (below the disguised copies, above all but 3 of 19,900 distinct
  offline pairs: two-line edits such as removing a per-head norm reach 0.96, and only their
  motivations, at 0.59-0.78, keep them apart), ``motivation_threshold`` 0.9 (above distinct ASI-Arch
  designs), and a band of 0.8 / 0.85 that sends 23 of 106 ASI-Arch designs (leave-one-out) to the
  judge and flags none as a repeat.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy.orm import Session

from asiarch.agents.fingerprint import Fingerprint, fingerprint, structure_similarity
from asiarch.cognition.embedding import EMBEDDING_DIM, embed
from asiarch.config import NoveltyConfig
from asiarch.protocols import Proposal
from asiarch.store.queries import proposal_history
from asiarch.store.schema import Campaign

Judge = Callable[[Proposal, str], bool]
"""(proposal, the earlier experiment as text: name, motivation, code) -> True when the proposal repeats it."""

HISTORY_SKIPPED_STATUSES = ("proposing", "rejected", "interrupted")
"""Not remembered from the store: a slot still being proposed has no code yet, a rejected proposal repeats
something already remembered, and an interrupted one never ran, so proposing it again is legitimate."""
MOTIVATION_CHUNK_WORDS = 96
"""MiniLM reads at most 256 word pieces; longer motivations are embedded in chunks of this many words
(about 200 pieces in technical prose) and the chunk vectors averaged, so the whole text counts."""


def motivation_vectors(texts: Sequence[str]) -> np.ndarray:
    """One unit vector per text, the normalised mean of its chunks' embeddings; a zero row for an empty
    text (no stated idea is similar to nothing). All chunks go to the model in one batch."""
    chunks: list[str] = []
    owners: list[int] = []
    for index, text in enumerate(texts):
        words = text.split()
        for start in range(0, len(words), MOTIVATION_CHUNK_WORDS):
            chunks.append(" ".join(words[start : start + MOTIVATION_CHUNK_WORDS]))
            owners.append(index)
    vectors = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
    if chunks:
        np.add.at(vectors, owners, embed(chunks))
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


@dataclass(frozen=True)
class NoveltyVerdict:
    """Whether a proposal is new; ``repeats`` names the closest earlier experiment (None with no history)
    and the similarities are to that one."""

    novel: bool
    repeats: int | str | None
    motivation_similarity: float
    structure_similarity: float
    reason: str


def describe(proposal: Proposal) -> str:
    """An earlier experiment as a judge reads it."""
    return f"Name: {proposal.name}\n\nMotivation:\n{proposal.motivation}\n\nCode:\n{proposal.code}"


class NoveltyFilter:
    """Remembers a campaign's experiments and judges each new proposal against all of them."""

    def __init__(self, config: NoveltyConfig, judge: Judge | None = None) -> None:
        self.config = config
        self.judge_call = judge
        self._keys: list[int | str] = []
        self._proposals: list[Proposal] = []
        self._fingerprints: list[Fingerprint] = []
        self._vectors: list[np.ndarray] = []
        self._matrix: np.ndarray | None = None
        self._by_exact: dict[str, int] = {}
        self._memo: tuple[Proposal, Fingerprint, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._keys)

    def _features(self, proposal: Proposal) -> tuple[Fingerprint, np.ndarray]:
        """Fingerprint and motivation vector; the last proposal's are kept, since a judged proposal is
        usually remembered next."""
        if self._memo is None or self._memo[0] != proposal:
            self._memo = (proposal, fingerprint(proposal.code), motivation_vectors([proposal.motivation])[0])
        return self._memo[1], self._memo[2]

    def remember(self, key: int | str, proposal: Proposal) -> None:
        """Add an earlier experiment (an id, or a name) to the history."""
        code_print, vector = self._features(proposal)
        self._add(key, proposal, code_print, vector)

    def _add(self, key: int | str, proposal: Proposal, code_print: Fingerprint, vector: np.ndarray) -> None:
        self._by_exact.setdefault(code_print.exact, len(self._keys))
        self._keys.append(key)
        self._proposals.append(proposal)
        self._fingerprints.append(code_print)
        self._vectors.append(vector)
        self._matrix = None

    def load_history(self, session: Session, campaign: Campaign) -> int:
        """Remember every earlier experiment of ``campaign`` (keyed by id), so a resumed campaign keeps its
        memory; returns how many were added. Motivations are embedded in one batch."""
        known = set(self._keys)
        records = [r for r in proposal_history(session, campaign, HISTORY_SKIPPED_STATUSES) if r.id not in known]
        vectors = motivation_vectors([r.motivation for r in records])
        for record, vector in zip(records, vectors):
            proposal = Proposal(name=record.name, motivation=record.motivation, code=record.code)
            self._add(record.id, proposal, fingerprint(record.code), vector)
        return len(records)

    def _similarities(self, code_print: Fingerprint, vector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._matrix is None:
            self._matrix = np.stack(self._vectors)
        structure = np.array([structure_similarity(code_print, other) for other in self._fingerprints])
        return structure, self._matrix @ vector

    def judge(self, proposal: Proposal) -> NoveltyVerdict:
        """Novel, or a repeat of the earlier experiment named in the verdict (rules in the module docstring)."""
        if not self._keys:
            return NoveltyVerdict(True, None, 0.0, 0.0, "nothing earlier to repeat")
        code_print, vector = self._features(proposal)
        structure, motivation = self._similarities(code_print, vector)
        config = self.config

        def verdict(novel: bool, index: int, reason: str) -> NoveltyVerdict:
            return NoveltyVerdict(novel, self._keys[index], float(motivation[index]), float(structure[index]), reason)

        def best(mask: np.ndarray) -> int:
            return int(np.argmax(np.where(mask, structure + motivation, -np.inf)))

        same = self._by_exact.get(code_print.exact)
        if same is not None:
            return verdict(False, same, f"same code as {self._keys[same]!r} up to names, layout and comments")
        same_numbers = np.array([code_print.numbers == other.numbers for other in self._fingerprints])
        repeat = (structure >= config.structure_threshold) & (motivation >= config.motivation_threshold) & same_numbers
        if repeat.any():
            index = best(repeat)
            return verdict(
                False,
                index,
                f"repeats {self._keys[index]!r}: same numbers, structure {structure[index]:.2f} ≥ "
                f"{config.structure_threshold} and motivation {motivation[index]:.2f} ≥ {config.motivation_threshold}",
            )
        borderline = (structure >= config.borderline_structure) | (motivation >= config.borderline_motivation)
        if self.judge_call is not None and borderline.any():
            index = best(borderline)
            if self.judge_call(proposal, describe(self._proposals[index])):
                return verdict(False, index, f"the judge finds it repeats {self._keys[index]!r} (borderline)")
            return verdict(True, index, f"borderline with {self._keys[index]!r}; the judge finds it new")
        index = int(np.argmax(structure + motivation))
        return verdict(
            True,
            index,
            f"closest is {self._keys[index]!r}: structure {structure[index]:.2f}, motivation {motivation[index]:.2f}",
        )
