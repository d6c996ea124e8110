"""Hybrid retrieval over the cognition base: BM25 for exact technical words, MiniLM for paraphrases.

A weakness such as "recall collapses when many key-value pairs compete" shares few words with
"the delta rule overwrites the value stored under a key", which the embedding bridges; but names
like "Mamba" or "short convolution" are matched best by their exact words, which BM25 does. Each
signal is min-max normalised over the candidate entries for the query and the two are summed with
the configured weights. We chose weighted normalised scores over reciprocal-rank fusion because RRF
throws away how decisive a match is (a query that names a paper outright would rank it no higher
than a vague one does), because the fused score stays in [0, 1], which a researcher's prompt and
``search_many``'s best-score merge can read, and because on our labelled development queries RRF
retrieved fewer of the labelled papers (tests/cognition/test_retrieval_quality.py holds the queries).

An entry is embedded as its title and key idea. We also tried embedding each symptom as a separate
view and scoring an entry by its best view (weaknesses are phrased like symptoms); on a labelled
development set of weakness queries it did not retrieve better, so the simpler form stayed. The
vectors are cached under the config's ``cache_dir`` keyed by the entries' content hash, so a process
only re-embeds the base after an entry changed.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
import tempfile
import zipfile
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from asiarch.cognition.embedding import EMBEDDING_DIM, embed
from asiarch.cognition.entries import Entry, content_hash, load_base
from asiarch.cognition.motifs import unknown_motifs
from asiarch.config import CognitionConfig, Config
from asiarch.protocols import CognitionHit

BM25_K1 = 1.2
"""Term-frequency saturation: the usual value; entries are short, so repeats matter little."""
BM25_B = 0.75
"""Length normalisation: the usual value."""
INDEX_VERSION = 1
"""Bump when what is embedded per entry changes, so cached indexes are rebuilt."""
INDEX_FILE = "cognition-index.npz"
CACHE_SUBDIR = "cognition"
MIN_STEM = 3
"""Shortest stem a suffix is stripped down to ("keys" -> "key", but "gas" stays)."""
STOPWORDS = frozenset(
    "a an and are as at be but by can do does for from has have in into is it its of on or so such that the their "
    "then there these this to too was were when which while with without".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """A deliberately crude English stemmer: enough that plural, past and -ing forms of a word meet."""
    if word.endswith("ies") and len(word) - 3 >= MIN_STEM:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes")) and len(word) - 2 >= MIN_STEM:
        return word[:-2]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) > MIN_STEM:
            return word[: -len(suffix)]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) - 1 >= MIN_STEM:
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Lower-case words without stopwords, stemmed so "decays", "decayed" and "decay" meet."""
    return [_stem(word) for word in _WORD.findall(text.lower()) if word not in STOPWORDS]


class BM25:
    """Okapi BM25 over pre-tokenised documents (idf with +1 inside the log, so it is never negative)."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = BM25_K1, b: float = BM25_B) -> None:
        self.k1, self.b = k1, b
        self.counts = [Counter(doc) for doc in documents]
        self.lengths = np.array([len(doc) for doc in documents], dtype=np.float64)
        self.mean_length = float(self.lengths.mean()) if len(documents) else 0.0
        frequency = Counter(term for counts in self.counts for term in counts)
        n = len(documents)
        self.idf = {term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in frequency.items()}

    def scores(self, query: Sequence[str]) -> np.ndarray:
        """One score per document; 0 for a document sharing no term with the query."""
        out = np.zeros(len(self.counts))
        if not self.counts:
            return out
        norm = self.k1 * (1 - self.b + self.b * self.lengths / max(self.mean_length, 1.0))
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            tf = np.array([counts.get(term, 0) for counts in self.counts], dtype=np.float64)
            out += idf * tf * (self.k1 + 1) / (tf + norm)
        return out


def _embedded_text(entry: Entry) -> str:
    return f"{entry.title}: {entry.key_idea}"


def _normalised(scores: np.ndarray) -> np.ndarray:
    spread = scores.max() - scores.min() if scores.size else 0.0
    return (scores - scores.min()) / spread if spread > 0 else np.zeros_like(scores)


@dataclass
class CognitionIndex:
    """The cognition base ready to search: entries, their cached embeddings (one row each) and a BM25 index."""

    entries: tuple[Entry, ...]
    vectors: np.ndarray
    bm25: BM25
    config: CognitionConfig
    built: bool
    """True when opening embedded the entries (no cache yet, or the entries changed since it was written)."""

    @classmethod
    def open(cls, entries: Sequence[Entry], cache_dir: Path, config: CognitionConfig | None = None) -> CognitionIndex:
        """Index ``entries``, reusing the embeddings cached in ``cache_dir`` when the entries are unchanged (a cache
        directory that cannot be written only costs re-embedding next time)."""
        ordered = tuple(sorted(entries, key=lambda entry: entry.source))
        key = hashlib.sha256(f"{INDEX_VERSION}:{content_hash(ordered)}".encode()).hexdigest()
        path = Path(cache_dir) / INDEX_FILE
        vectors = _read_cache(path, key, len(ordered))
        built = vectors is None
        if vectors is None:
            vectors = embed([_embedded_text(entry) for entry in ordered])
            with contextlib.suppress(OSError):
                _write_cache(path, key, vectors)
        bm25 = BM25([tokenize(entry.search_text()) for entry in ordered])
        return cls(ordered, vectors, bm25, config or CognitionConfig(), built)

    def search(self, query: str, k: int | None = None, motifs: Collection[str] | None = None) -> list[CognitionHit]:
        """The ``k`` entries that best address ``query`` (a weakness, in words), best first; with ``motifs``, only
        entries that use at least one of them."""
        return self.search_many([query], k, motifs)

    def search_many(
        self, queries: Sequence[str], k: int | None = None, motifs: Collection[str] | None = None
    ) -> list[CognitionHit]:
        """The top ``k`` entries for each query, merged: an entry found by several queries appears once, with the
        query that scored it best. Best first; at most ``k`` per query."""
        k = self.config.top_k if k is None else k
        asked = [q for q in dict.fromkeys(q.strip() for q in queries) if q]
        eligible = self._eligible(motifs)
        if not asked or not eligible.size or k <= 0:
            return []
        query_vectors = embed(asked)
        best: dict[int, CognitionHit] = {}
        for query, vector in zip(asked, query_vectors):
            scores = self._scores(query, vector, eligible)
            for rank in np.argsort(-scores, kind="stable")[:k]:
                position = int(eligible[rank])
                if position not in best or scores[rank] > best[position].score:
                    best[position] = self._hit(position, float(scores[rank]), query)
        return sorted(best.values(), key=lambda hit: (-hit.score, hit.source))

    def _eligible(self, motifs: Collection[str] | None) -> np.ndarray:
        if motifs is None:
            return np.arange(len(self.entries))
        unknown = unknown_motifs(list(motifs))
        if unknown:
            raise ValueError(f"unknown motif {unknown[0]!r}; the vocabulary is asiarch.cognition.motifs.MOTIFS")
        wanted = set(motifs)
        return np.array([i for i, entry in enumerate(self.entries) if wanted & set(entry.motifs)], dtype=np.int64)

    def _scores(self, query: str, vector: np.ndarray, eligible: np.ndarray) -> np.ndarray:
        cosine = (self.vectors @ vector)[eligible]
        lexical = self.bm25.scores(tokenize(query))[eligible]
        weights = self.config.bm25_weight, self.config.embedding_weight
        return (weights[0] * _normalised(lexical) + weights[1] * _normalised(cosine)) / sum(weights)

    def _hit(self, position: int, score: float, query: str) -> CognitionHit:
        entry = self.entries[position]
        return CognitionHit(entry.source, entry.title, entry.insight, entry.motifs, score, query)


def _read_cache(path: Path, key: str, rows: int) -> np.ndarray | None:
    """The cached vectors if ``path`` holds the index for ``key``; None if missing, stale or unreadable."""
    try:
        with np.load(path, allow_pickle=False) as cached:
            if str(cached["key"]) != key or cached["vectors"].shape != (rows, EMBEDDING_DIM):
                return None
            return cached["vectors"].astype(np.float32)
    except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile):
        return None


def _write_cache(path: Path, key: str, vectors: np.ndarray) -> None:
    """Write atomically, so a process reading the cache concurrently sees the old index or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            np.savez(stream, key=np.array(key), vectors=vectors)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def open_index(config: Config) -> CognitionIndex:
    """The shipped entries plus the configured extra directories, indexed under ``config.cache_dir``."""
    entries = load_base(config.cognition.entry_dirs)
    return CognitionIndex.open(entries, config.cache_dir / CACHE_SUBDIR, config.cognition)
