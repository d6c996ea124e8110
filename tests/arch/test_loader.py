"""The candidate loader: isolation, one-line errors, torch.compile policy, and the ASI-Arch adapter."""

from __future__ import annotations

import pathlib
import pickle
import sys
import textwrap
import traceback

import pytest
import torch

from asiarch.arch.contract import split_output
from asiarch.arch.loader import AsiArchAdapter, CandidateError, load_candidate

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
EXAMPLES = pathlib.Path(__file__).parents[2] / "examples"

ASI_ARCH_FILES = [EXAMPLES / "asi_arch_deltanet.py", FIXTURES / "asi_masked_gated.py", FIXTURES / "asi_lazy_compile.py"]
MIXER_FILES = [EXAMPLES / "gated_deltanet_mixer.py", FIXTURES / "mixer_conv.py", FIXTURES / "mixer_aux.py"]


def write(tmp_path: pathlib.Path, name: str, source: str) -> pathlib.Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def load_error(path: pathlib.Path) -> CandidateError:
    with pytest.raises(CandidateError) as caught:
        load_candidate(path)
    return caught.value


MIXER_TEMPLATE = """
    import torch.nn as nn

    FACTOR = {factor}

    class Mixer(nn.Module):
        def __init__(self, d_model, num_heads, **kwargs):
            super().__init__()

        def forward(self, x):
            return FACTOR * x
"""


# --- isolation -------------------------------------------------------------------------------


def test_two_files_defining_mixer_give_independent_classes() -> None:
    conv = load_candidate(FIXTURES / "mixer_conv.py")
    aux = load_candidate(FIXTURES / "mixer_aux.py")
    assert conv.cls is not aux.cls
    assert conv.module is not aux.module
    assert conv.cls.__module__ != aux.cls.__module__
    assert "SCALE" in vars(conv.module) and "SCALE" not in vars(aux.module)


def test_loading_the_same_file_twice_gives_fresh_classes() -> None:
    first = load_candidate(FIXTURES / "mixer_conv.py")
    second = load_candidate(FIXTURES / "mixer_conv.py")
    assert first.cls is not second.cls
    assert first.sha256 == second.sha256
    first.module.SCALE = 5.0
    assert second.module.SCALE == 1.0


def test_reload_after_edit_sees_the_new_code(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "cand.py", MIXER_TEMPLATE.format(factor=1.0))
    x = torch.ones(1, 3, 4)
    assert torch.equal(load_candidate(path).build(4, 2)(x), x)
    write(tmp_path, "cand.py", MIXER_TEMPLATE.format(factor=3.0))
    assert torch.equal(load_candidate(path).build(4, 2)(x), 3 * x)


def test_candidate_module_is_not_left_in_sys_modules() -> None:
    spec = load_candidate(EXAMPLES / "asi_arch_deltanet.py")
    spec.build(64, 2)(torch.randn(1, 5, 64))
    assert spec.module.__name__.startswith("asiarch_candidate_")
    assert spec.module.__name__ not in sys.modules
    assert not any(name == "fla" or name.startswith(("fla.", "asiarch_candidate_")) for name in sys.modules)


def test_source_text_loads_with_its_own_name_and_chat_fences_are_ignored() -> None:
    source = "```python\n" + textwrap.dedent(MIXER_TEMPLATE.format(factor=2.0)) + "```\n"
    spec = load_candidate(source, filename="proposal-17")
    assert spec.path == "proposal-17"
    assert spec.kind == "mixer"


def test_dataclass_under_postponed_annotations_loads_and_aux_loss_is_returned() -> None:
    model = load_candidate(FIXTURES / "mixer_aux.py").build(16, 2)
    y, aux = split_output(model(torch.randn(2, 5, 16)))
    assert y.shape == (2, 5, 16)
    assert aux is not None and aux.shape == ()


def test_split_output_accepts_the_three_return_forms() -> None:
    y = torch.randn(2, 3, 4)
    assert split_output(y) == (y, None)
    assert split_output((y, None)) == (y, None)
    aux = split_output((y, torch.tensor([0.5])))[1]
    assert aux is not None and aux.shape == ()
    assert split_output((y, torch.tensor(1.0), {"cache": 1})) == (y, None)
    with pytest.raises(TypeError, match="aux_loss is not a scalar"):
        split_output((y, y))
    with pytest.raises(TypeError, match="got list"):
        split_output([y])


# --- one-line errors -------------------------------------------------------------------------


def test_syntax_error_names_file_and_line(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "broken.py", "import torch\n\nclass Mixer(torch.nn.Module:\n    pass\n")
    error = load_error(path)
    assert error.kind == "syntax"
    assert str(error).startswith(f"{path}:3: syntax error")
    assert "\n" not in str(error) and "Fix:" in str(error)


def test_missing_class_is_reported(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "other.py", "import torch.nn as nn\n\nclass Layer(nn.Module):\n    pass\n")
    error = load_error(path)
    assert error.kind == "missing_class"
    assert str(error).startswith(f"{path}: defines neither Mixer nor DeltaNet")
    assert "\n" not in str(error)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, str(copy)) == (error.kind, str(error))


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("import surely_not_a_module_xyz", "No module named 'surely_not_a_module_xyz'"),
        ("from fla.ops.delta_rule import chunk_delta_rule", "fla.ops.delta_rule has no CPU stand-in"),
        ("from fla.modules import GatedMLP", "cannot import name 'GatedMLP' from 'fla.modules'"),
    ],
)
def test_unavailable_import_is_reported_with_its_line(tmp_path: pathlib.Path, statement: str, expected: str) -> None:
    path = write(tmp_path, "imports.py", f"import torch\n{statement}\n")
    error = load_error(path)
    assert error.kind == "import"
    assert str(error).startswith(f"{path}:2: import failed")
    assert expected in str(error)
    assert "\n" not in str(error)


def test_incompatible_constructor_signature_fails_at_load(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "ctor.py",
        """
        import torch.nn as nn

        class Mixer(nn.Module):
            def __init__(self, dim, heads):
                super().__init__()
        """,
    )
    error = load_error(path)
    assert error.kind == "constructor"
    assert str(error).startswith(f"{path}: constructor signature incompatible")
    assert "d_model, num_heads" in str(error) and "\n" not in str(error)


def test_constructor_that_raises_is_reported_at_build(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "ctor.py",
        """
        import torch.nn as nn

        class Mixer(nn.Module):
            def __init__(self, d_model, num_heads):
                super().__init__()
                assert d_model % 3 == 0, (
                    "width must be a multiple of 3"
                )
        """,
    )
    spec = load_candidate(path)
    with pytest.raises(CandidateError) as caught:
        spec.build(64, 2)
    assert caught.value.kind == "constructor"
    assert str(caught.value).startswith(f"{path}:7: Mixer(d_model=64, num_heads=2) raised AssertionError")
    assert "\n" not in str(caught.value)


def test_module_level_failure_is_reported(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "body.py", "import torch\nWIDTH = 1 // 0\n")
    error = load_error(path)
    assert error.kind == "execution"
    assert str(error).startswith(f"{path}:2: running the module body raised ZeroDivisionError")


def test_unreadable_file_is_reported(tmp_path: pathlib.Path) -> None:
    error = load_error(tmp_path / "missing.py")
    assert error.kind == "source"


def test_runtime_tracebacks_name_the_candidate_file(tmp_path: pathlib.Path) -> None:
    path = write(
        tmp_path,
        "fails.py",
        """
        import torch.nn as nn

        class Mixer(nn.Module):
            def __init__(self, d_model, num_heads):
                super().__init__()

            def forward(self, x):
                return x @ x
        """,
    )
    model = load_candidate(path).build(4, 2)
    with pytest.raises(RuntimeError) as caught:
        model(torch.randn(1, 3, 4))
    frame = traceback.extract_tb(caught.value.__traceback__)[-1]
    assert frame.filename == str(path)
    assert frame.lineno == 9 and frame.line == "return x @ x"


# --- torch.compile policy ----------------------------------------------------------------------


def test_torch_compile_is_identity_inside_candidate_and_untouched_outside() -> None:
    real_compile = torch.compile
    spec = load_candidate(FIXTURES / "asi_lazy_compile.py")
    assert spec.module.gelu_mix.__code__.co_filename == str(FIXTURES / "asi_lazy_compile.py")
    model = spec.build(64, 2)
    model(torch.randn(2, 7, 64))
    assert model.layer.compiled_at_call == model.layer._mix
    assert torch.compile is real_compile
    assert spec.module.torch is not torch and spec.module.torch.nn is torch.nn


def test_allow_compile_gives_the_candidate_the_real_torch(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path, "cand.py", "import torch\n" + textwrap.dedent(MIXER_TEMPLATE.format(factor=1.0)))
    assert load_candidate(path, allow_compile=True).module.torch is torch
    assert load_candidate(path).module.torch is not torch


# --- the ASI-Arch adapter and the Mixer contract ----------------------------------------------


@pytest.mark.parametrize("path", MIXER_FILES + ASI_ARCH_FILES, ids=lambda p: p.stem)
def test_candidates_obey_the_mixer_contract(path: pathlib.Path) -> None:
    torch.manual_seed(0)
    spec = load_candidate(path)
    model = spec.build(64, 2)
    assert isinstance(model, AsiArchAdapter) == (spec.kind == "asi_arch")
    x = torch.randn(2, 37, 64)
    y, aux = split_output(model(x))
    assert y.shape == (2, 37, 64)
    assert torch.isfinite(y).all()

    loss = y.square().mean() + (aux if aux is not None else 0.0)
    loss.backward()
    parameters = list(model.parameters())
    assert parameters and all(p.grad is not None for p in parameters if p.requires_grad)
    if spec.kind == "asi_arch":
        assert len(parameters) == len(list(model.layer.parameters()))

    with torch.no_grad():
        t = 20
        perturbed = x.clone()
        perturbed[:, t + 1 :] = torch.randn(2, 37 - t - 1, 64)
        y_perturbed, _ = split_output(model(perturbed))
        reference, _ = split_output(model(x))
    torch.testing.assert_close(y_perturbed[:, : t + 1], reference[:, : t + 1], atol=1e-5, rtol=1e-5)


MASK_AWARE_FILES = [EXAMPLES / "asi_arch_deltanet.py", FIXTURES / "asi_masked_gated.py"]


@pytest.mark.parametrize("path", MASK_AWARE_FILES, ids=lambda p: p.stem)
def test_attention_mask_path_matches_running_each_sequence_alone(path: pathlib.Path) -> None:
    torch.manual_seed(0)
    layer = load_candidate(path).build(64, 2, use_gate=True).layer
    x = torch.randn(2, 37, 64)
    mask = torch.ones(2, 37, dtype=torch.long)
    mask[0, :9] = 0
    mask[1, 30:] = 0
    with torch.no_grad():
        masked, _, _ = layer(x, attention_mask=mask)
        alone_0, _, _ = layer(x[:1, 9:])
        alone_1, _, _ = layer(x[1:, :30])
    torch.testing.assert_close(masked[0, 9:], alone_0[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(masked[1, :30], alone_1[0], atol=1e-5, rtol=1e-5)
    assert masked[0, :9].abs().max() == 0 and masked[1, 30:].abs().max() == 0


def test_layer_that_casts_to_bf16_runs_under_autocast_and_returns_input_dtype() -> None:
    spec = load_candidate(FIXTURES / "asi_bf16_cast.py")
    assert spec.casts_to_bf16
    layer = spec.build(32, 2)
    x = torch.randn(2, 9, 32, requires_grad=True)
    y = layer(x)
    assert y.dtype == torch.float32 and y.shape == x.shape
    y.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()
    with pytest.raises(RuntimeError):
        layer.layer(hidden_states=x)


def test_plain_layers_do_not_autocast() -> None:
    assert not load_candidate(FIXTURES / "asi_masked_gated.py").casts_to_bf16
