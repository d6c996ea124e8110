"""Strict parsing of model answers: whole files, SEARCH/REPLACE edits, labels, and one-line errors."""

import re

import pytest

from asiarch.agents.researcher.parsing import (
    FormatError,
    apply_edits,
    parse_answer,
    parse_assessment,
    parse_judgement,
)

PARENT = """import torch
from torch import nn


class Mixer(nn.Module):
    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        self.proj = nn.Linear(d_model, d_model)

    def forward(self, x):
        y = self.proj(x)
        return y
"""

NEW_FILE = PARENT.replace("return y", "return torch.tanh(y)")


def answer(code: str = NEW_FILE, name: str = "tanh_mixer", motivation: str = "Bounded outputs train stably.") -> str:
    return f"NAME: {name}\nMOTIVATION: {motivation}\n\n```python\n{code}```\n"


def diff(search: str, replace: str) -> str:
    return f"<<<<<<< SEARCH\n{search}\n=======\n{replace}\n>>>>>>> REPLACE\n"


def test_whole_file_answer():
    parsed = parse_answer(answer(), PARENT)
    assert (parsed.name, parsed.motivation, parsed.code, parsed.edit) == (
        "tanh_mixer",
        "Bounded outputs train stably.",
        NEW_FILE,
        "rewrite",
    )


def test_decorated_labels_and_multi_line_motivation():
    text = "## NAME: `wide_mix`\n**MOTIVATION:**\nFirst line.\nSecond line.\n```py\n" + NEW_FILE + "```\nThanks!"
    parsed = parse_answer(text, PARENT)
    assert parsed.name == "wide_mix"
    assert parsed.motivation == "First line.\nSecond line."


def test_labels_inside_code_are_not_labels():
    code = NEW_FILE.replace("    def forward", "    name: str = 'inner'\n\n    def forward")
    with pytest.raises(FormatError, match="no 'NAME:' line"):
        parse_answer(f"MOTIVATION: m\n```python\n{code}```", PARENT)


def test_diff_answer_is_applied_to_the_parent():
    text = "NAME: tanh_diff\nMOTIVATION: Squash the output.\n" + diff(
        "        return y", "        return torch.tanh(y)"
    )
    parsed = parse_answer(text, PARENT)
    assert parsed.code == NEW_FILE and parsed.edit == "diff"


def test_several_edits_inside_a_fence_apply_in_order():
    edits = diff("        y = self.proj(x)", "        y = self.proj(x) * 2") + diff(
        "        return y", "        return -y"
    )
    parsed = parse_answer(f"NAME: a\nMOTIVATION: b\n```python\n{edits}```\n", PARENT)
    assert "self.proj(x) * 2" in parsed.code and "return -y" in parsed.code


def test_trailing_spaces_do_not_stop_a_match():
    assert "return -y" in apply_edits(diff("        return y   ", "        return -y"), PARENT)


def test_search_that_does_not_match_says_which_block():
    text = diff("        y = self.proj(x)", "        y = x") + diff("        return z", "        return y")
    with pytest.raises(FormatError, match=r"SEARCH block 2 does not match the parent code .*'return z'"):
        apply_edits(text, PARENT)


def test_ambiguous_search_asks_for_more_context():
    parent = PARENT + "\n    def again(self, y):\n        return y\n"
    with pytest.raises(FormatError, match="matches 2 places.*more surrounding lines"):
        apply_edits(diff("        return y", "        return 0"), parent)


def test_unclosed_edit_block():
    with pytest.raises(FormatError, match="not closed"):
        apply_edits("<<<<<<< SEARCH\n        return y\n=======\n        return 1\n", PARENT)


def test_code_must_parse_and_define_the_layer():
    with pytest.raises(FormatError, match=r"does not parse: line 1:"):
        parse_answer(answer("def broken(:\n"), PARENT)
    with pytest.raises(FormatError, match="no top-level `class Mixer"):
        parse_answer(answer("class Other:\n    pass\n"), PARENT)
    asi_arch = "class DeltaNet:\n    pass\n"
    assert parse_answer(answer(asi_arch), PARENT).code == asi_arch


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the answer is empty"),
        ("MOTIVATION: m\n```python\nclass Mixer: pass\n```", "no 'NAME:' line"),
        ("NAME: n\n```python\nclass Mixer: pass\n```", "no 'MOTIVATION:' section"),
        ("NAME: two words\nMOTIVATION: m\n```python\nclass Mixer: pass\n```", "NAME must be one identifier"),
        ("NAME: n\nMOTIVATION: m\nno code at all", "no ```python block and no SEARCH/REPLACE edits"),
        ("NAME: n\nMOTIVATION: m\n```python\nclass Mixer:\n", "never closed"),
        ("NAME: n\nMOTIVATION: m\n```python\nx=1\n```\n```python\ny=2\n```", "found 2 ```python blocks"),
    ],
)
def test_format_errors_are_one_specific_line(text, expected):
    with pytest.raises(FormatError) as info:
        parse_answer(text, PARENT)
    assert expected in str(info.value)
    assert "\n" not in str(info.value)


def test_repair_answers_need_no_labels():
    parsed = parse_answer(f"```python\n{NEW_FILE}```", PARENT, labels_required=False)
    assert (parsed.name, parsed.motivation, parsed.code) == (None, None, NEW_FILE)


def test_judgement():
    verdict = parse_judgement("REPEAT: yes\nREASON: Same delta rule, renamed.")
    assert verdict.repeat and verdict.reason == "Same delta rule, renamed."
    assert not parse_judgement("**REPEAT:** No\nREASON: adds a conv path").repeat
    with pytest.raises(FormatError, match="REPEAT: yes"):
        parse_judgement("maybe")


def test_assessment_is_a_score_in_range_with_a_reason():
    assessment = parse_assessment("**SCORE:** -0.5\nREASON: the window covers the whole test sequence.")
    assert assessment.score == -0.5 and assessment.reason == "the window covers the whole test sequence."
    for answer, words in [
        ("SCORE: 7\nREASON: great", "number from -1 to 1>', got '7'"),
        ("SCORE: high\nREASON: great", "got 'high'"),
        ("SCORE: nan\nREASON: great", "got 'nan'"),
        ("REASON: great", "got None"),
        ("SCORE: 0.2", "no 'REASON:' line"),
    ]:
        with pytest.raises(FormatError, match=re.escape(words)):
            parse_assessment(answer)
