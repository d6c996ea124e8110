"""Edit summaries: motifs for grammar candidates, a diff summary for code, the credit key for both."""

from asiarch.agents.edits import summarise_edit
from asiarch.agents.researcher.offline.codegen import generate
from asiarch.agents.researcher.offline.grammar import WindowPath, spec_tree
from asiarch.agents.researcher.offline.zoo_specs import ZOO_SPECS

PARENT_CODE = """import torch


class Mixer(torch.nn.Module):
    def __init__(self, d_model, num_heads):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        return self.proj(x)
"""

CHILD_CODE = """import torch


def gate(x):
    return torch.sigmoid(x) * x


class Mixer(torch.nn.Module):
    # a comment changes nothing
    def __init__(self, d_model, num_heads):
        super().__init__()
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x):
        return gate(self.proj(x))
"""


def test_a_grammar_edit_is_described_by_the_motifs_it_adds_and_removes():
    parent = ZOO_SPECS["deltanet"]
    child = parent.model_copy(update={"paths": (*parent.paths, WindowPath(window=32)), "output_gate": True})
    edit = summarise_edit(
        generate(parent, "p"),
        spec_tree(parent),
        generate(child, "c"),
        spec_tree(child),
        "mutate:add:local:sliding_window",
    )
    assert edit.kind == "motifs" and edit.credit_key == "add:local:sliding_window"
    assert "local:sliding_window" in edit.added and "gate:output" in edit.added and edit.removed == ()
    assert edit.lines_added > 0
    assert edit.describe().startswith("add:local:sliding_window: adds local:sliding_window")


def test_a_hyper_parameter_edit_names_the_spec_fields_it_changed():
    parent = ZOO_SPECS["deltanet"]
    child = parent.model_copy(update={"short_conv": 2})
    edit = summarise_edit("", spec_tree(parent), "", spec_tree(child), "mutate:tune:conv:short")
    assert edit.added == edit.removed == () and edit.changed == ("short_conv 4→2",)
    assert "same motifs; changes short_conv 4→2" in edit.describe()


def test_code_without_a_spec_gets_a_diff_summary_of_lines_and_definitions():
    edit = summarise_edit(PARENT_CODE, None, CHILD_CODE, None, "llm-rewrite")
    assert edit.kind == "code" and edit.credit_key == "llm-rewrite"
    assert (edit.lines_added, edit.lines_removed) == (6, 1)
    # forward changed, gate is new; the comment and the unchanged __init__ are not "touched".
    assert set(edit.touched) == {"gate (new)", "Mixer.forward"}


def test_no_parent_and_unparsable_code():
    assert summarise_edit("", None, CHILD_CODE, None, "seed").kind == "none"
    broken = summarise_edit(PARENT_CODE, None, "def (:", None, "llm-diff")
    assert broken.kind == "code" and broken.touched == () and broken.lines_removed > 0
