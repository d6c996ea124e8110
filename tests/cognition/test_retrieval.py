"""Hybrid retrieval: BM25 by itself, the cached embedding index, and search over small real indexes."""

import numpy as np
import pytest

from asiarch.cognition.retrieval import BM25, INDEX_FILE, CognitionIndex, tokenize
from asiarch.config import CognitionConfig
from tests.cognition.test_entries import GOOD, entry

DECAY = entry(
    source="decay-2023",
    title="Forgetting with a Data-Dependent Decay",
    key_idea="Multiply the state by a learned per-token decay so stale associations fade.",
    symptoms=[{"task": "byte_lm", "effect": "loss plateaus early on text because old context is never forgotten"}],
    mechanism="S_t = a_t S_{t-1} + k_t v_t^T with a_t = sigmoid(w x_t)",
    motifs=["rule:scalar_decay"],
)
CONV = entry(
    source="conv-2022",
    title="Short Convolutions Before Attention",
    key_idea="A depthwise causal convolution of width four mixes neighbouring tokens before the memory sees them.",
    symptoms=[{"task": "selective_copy", "effect": "cannot combine adjacent tokens into one key"}],
    mechanism="x'_t = sum_{i<4} w_i x_{t-i}",
    motifs=["conv:short"],
)
SMALL_BASE = [entry(), DECAY, CONV]


@pytest.fixture(scope="module")
def small_index(tmp_path_factory):
    return CognitionIndex.open(SMALL_BASE, tmp_path_factory.mktemp("cache"))


def test_tokenize_drops_stopwords_and_meets_inflections():
    assert tokenize("The decays, decayed and decaying of a state") == ["decay", "decay", "decay", "state"]
    assert tokenize("keys KEY memories patches classes gas") == ["key", "key", "memory", "patch", "class", "gas"]


def test_bm25_prefers_matching_rare_terms_and_saturates_repeats():
    docs = [["delta", "rule", "memory"], ["memory", "decay"], ["memory", "conv"], ["delta", "delta", "delta", "memory"]]
    scores = BM25(docs).scores(["delta"])
    assert scores[1] == scores[2] == 0.0 and scores[0] > 0
    assert scores[3] > scores[0] and scores[3] < 3 * scores[0]
    common, rare = BM25(docs).scores(["memory"]), BM25(docs).scores(["conv"])
    assert rare[2] > common[2] > 0


def test_bm25_normalises_for_document_length():
    scores = BM25([["delta", "rule"], ["delta", "rule", "with", "many", "more", "other", "words"]]).scores(["delta"])
    assert scores[0] > scores[1] > 0
    flat = BM25([["delta", "rule"], ["delta", "rule", "with", "many", "more", "other", "words"]], b=0.0)
    assert flat.scores(["delta"])[0] == pytest.approx(flat.scores(["delta"])[1])


def test_bm25_of_an_unknown_term_or_an_empty_corpus_is_zero():
    assert not BM25([["delta"]]).scores(["mamba"]).any()
    assert BM25([]).scores(["delta"]).shape == (0,)


def test_index_is_cached_and_rebuilt_only_when_entries_change(tmp_path):
    first = CognitionIndex.open(SMALL_BASE, tmp_path)
    path = tmp_path / INDEX_FILE
    assert first.built and path.is_file()
    written = path.stat().st_mtime_ns
    again = CognitionIndex.open(list(reversed(SMALL_BASE)), tmp_path)
    assert not again.built and path.stat().st_mtime_ns == written
    np.testing.assert_array_equal(again.vectors, first.vectors)
    edited = CognitionIndex.open([entry(key_idea="A different idea entirely."), DECAY, CONV], tmp_path)
    assert edited.built and path.stat().st_mtime_ns != written
    assert not np.array_equal(edited.vectors, first.vectors)


def test_unreadable_cache_is_rebuilt(tmp_path):
    (tmp_path / INDEX_FILE).write_bytes(b"not an npz file")
    assert CognitionIndex.open(SMALL_BASE, tmp_path).built
    (tmp_path / INDEX_FILE).write_bytes((tmp_path / INDEX_FILE).read_bytes()[:200])
    assert CognitionIndex.open(SMALL_BASE, tmp_path).built
    assert not CognitionIndex.open(SMALL_BASE, tmp_path).built


def test_search_ranks_the_entry_that_addresses_the_weakness_first(small_index):
    hits = small_index.search("the model never forgets old context, loss stalls on text", k=3)
    assert [h.source for h in hits][0] == "decay-2023"
    assert len(hits) == 3 and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 <= h.score <= 1.0 and h.query.startswith("the model never") for h in hits)
    top = hits[0]
    assert top.title == DECAY.title and top.insight == DECAY.insight and top.motifs == ("rule:scalar_decay",)


def test_search_respects_k_and_the_motif_filter(small_index):
    assert len(small_index.search("memory", k=1)) == 1
    filtered = small_index.search("memory", k=3, motifs=["conv:short", "rule:delta"])
    assert {h.source for h in filtered} == {"conv-2022", GOOD["source"]}
    with pytest.raises(ValueError, match="unknown motif 'rule:nope'"):
        small_index.search("memory", motifs=["rule:nope"])
    assert small_index.search("   ") == [] and small_index.search("memory", k=0) == []


def test_search_many_keeps_each_entry_once_with_its_best_query(small_index):
    queries = ["recall fades as more key-value pairs are stored", "cannot combine adjacent tokens"]
    merged = small_index.search_many(queries, k=2)
    sources = [h.source for h in merged]
    assert len(sources) == len(set(sources)) and {"toy-2024", "conv-2022"} <= set(sources)
    for hit in merged:
        best = max((h for q in queries for h in small_index.search(q, k=2) if h.source == hit.source),
                   key=lambda h: h.score)  # fmt: skip
        assert hit.score == pytest.approx(best.score) and hit.query == best.query


def test_weights_choose_between_exact_words_and_meaning(tmp_path):
    query = "Short Convolutions"
    lexical = CognitionIndex.open(SMALL_BASE, tmp_path, CognitionConfig(bm25_weight=1.0, embedding_weight=0.0))
    scores = {h.source: h.score for h in lexical.search(query, k=3)}
    assert scores["conv-2022"] == 1.0 and scores["decay-2023"] == scores["toy-2024"] == 0.0
