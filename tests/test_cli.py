"""The command line end to end, with real (tiny) training jobs in real worker processes."""

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from asiarch.cli import app

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
DEFECTS = ROOT / "tests" / "arch" / "defects"
runner = CliRunner()

TINY_STAGE = {
    "seeds": 1,
    "reference_seeds": 2,
    "tasks": {
        "mqar": {
            "task": "mqar",
            "params": {
                "vocab_size": 64,
                "seq_len": 32,
                "num_kv_pairs": 4,
                "test_kv_pairs": [2, 4],
                "test_examples": 16,
            },
            "model": {"d_model": 16, "n_layers": 1, "num_heads": 2},
            "train": {"steps": 5, "batch_size": 4, "lrs": [0.01, 0.003], "eval_batch_size": 8},
        },
        "lm": {
            "task": "byte_lm",
            "params": {"seq_len": 16, "test_windows": 8},
            "model": {"d_model": 16, "n_layers": 1, "num_heads": 2, "mlp_ratio": 2},
            "train": {"steps": 3, "batch_size": 2, "lrs": [0.003], "eval_batch_size": 8},
        },
    },
}


@pytest.fixture
def tiny_config(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.yaml"
    config = {"cache_dir": str(tmp_path / "cache"), "stages": {"screen": TINY_STAGE}}
    path.write_text(yaml.safe_dump(config))
    return path


def invoke(*args: str):
    return runner.invoke(app, list(args))


@pytest.mark.slow
@pytest.mark.parametrize("example", ["asi_arch_deltanet.py", "gated_deltanet_mixer.py"])
def test_eval_prints_candidate_next_to_references(tiny_config, tmp_path, monkeypatch, example):
    monkeypatch.chdir(ROOT)
    saved = tmp_path / "results.json"
    result = invoke(
        "eval",
        f"examples/{example}",
        "--config",
        str(tiny_config),
        "--references",
        "softmax,linear_elu",
        "--save",
        str(saved),
    )
    assert result.exit_code == 0, result.output
    for text in (example, "softmax", "linear_elu", "mqar", "lm", "kv2", "kv4", "±"):
        assert text in result.output
    rows = json.loads(saved.read_text())
    # references try both mqar learning rates (+ one lm run) on each of their two seeds
    assert {len(v) for k, v in rows.items() if k.startswith("zoo:")} == {2 * 3}
    assert len(rows[f"examples/{example}"]) == 3
    assert "A campaign would" in result.output and "against linear_elu (validation split)" in result.output
    assert rows["fitness"]["strongest"] == "linear_elu" and rows["fitness"]["split"] == "validation"
    assert rows["verdict"]["decision"] in ("promote", "do not promote")


@pytest.mark.slow
def test_references_are_cached_and_reused(tiny_config, tmp_path):
    first = invoke("baselines", "--config", str(tiny_config), "--references", "retnet")
    assert first.exit_code == 0, first.output
    announced = "measuring the references at screen: 6 training jobs on"
    assert announced in first.output and "on this machine; cached in" in first.output, "said before it starts"
    assert "measuring the references at screen: 6/6 jobs done" in first.output, "a pipe gets one line per job"
    (cache_file,) = (tmp_path / "cache").rglob("screen-*.json")
    before = cache_file.stat().st_mtime_ns
    again = invoke(
        "eval", str(EXAMPLES / "gated_deltanet_mixer.py"), "--config", str(tiny_config), "--references", "retnet"
    )
    assert again.exit_code == 0, again.output
    assert cache_file.stat().st_mtime_ns == before
    assert "measuring the references" not in again.output
    cached = json.loads(cache_file.read_text())
    assert sorted(r["seed"] for _, r in cached["references"]["retnet"]) == [
        0,
        0,
        0,
        1,
        1,
        1,
    ]  # references: both mqar learning rates and one lm run on every seed


def test_no_results_are_stored_without_save(tiny_config, tmp_path):
    result = invoke(
        "eval", str(EXAMPLES / "gated_deltanet_mixer.py"), "--config", str(tiny_config), "--references", "softmax"
    )
    assert result.exit_code == 0, result.output
    written = {p.relative_to(tmp_path).parts[0] for p in tmp_path.rglob("*") if p.is_file()}
    assert written == {"tiny.yaml", "cache"}


@pytest.mark.parametrize(
    "args,expected",
    [
        (["eval", "missing.py"], "does not exist"),
        (["eval", "BROKEN", "--references", "softmax"], "syntax error at line 2"),
        (["eval", "examples/gated_deltanet_mixer.py", "--stage", "scale"], "unknown stage 'scale'"),
        (["eval", "examples/gated_deltanet_mixer.py", "--set", "execution.workers=zero"], "execution.workers"),
        (["eval", "examples/gated_deltanet_mixer.py", "--references", "lstm"], "unknown reference 'lstm'"),
        (["baselines", "--set", "stages.screen.tasks.mqar.params.vocab=3"], "unknown key 'vocab'"),
    ],
)
def test_bad_input_is_one_clear_line(tmp_path, monkeypatch, args, expected):
    monkeypatch.chdir(ROOT)
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nclass Mixer(:\n")
    args = [str(broken) if a == "BROKEN" else a for a in args]
    result = invoke(*args)
    assert result.exit_code == 2
    assert expected in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


@pytest.mark.parametrize("command", ["eval", "check"])
@pytest.mark.parametrize(
    "make,expected",
    [
        (lambda path: path.write_text(""), "is empty; write a Mixer class"),
        (lambda path: path.write_bytes(bytes(range(256)) * 8), "is not UTF-8 text"),
        (lambda path: path.write_bytes(b"# pad\n" * (50 * 2**20 // 6)), "at most 256 KiB (gates.max_source_kb)"),
        (lambda path: path.mkdir(), "is a directory"),
    ],
    ids=["empty", "binary", "50MB", "directory"],
)
def test_a_bad_candidate_file_is_one_clear_line_and_nothing_is_written(tmp_path, monkeypatch, command, make, expected):
    monkeypatch.chdir(tmp_path)
    make(tmp_path / "candidate.py")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = invoke(command, "candidate.py", "--set", f"cache_dir={tmp_path / 'cache'}")
    assert result.exit_code == 2 and expected in result.output
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_eval_stops_at_the_first_failed_gate_before_any_training(tiny_config, tmp_path):
    result = invoke("eval", str(DEFECTS / "leak_roll.py"), "--config", str(tiny_config), "--references", "softmax")
    assert result.exit_code == 2
    assert "failed the causality gate" in result.output and "sees the future" in result.output
    assert not (tmp_path / "cache").exists()


def test_check_passes_a_good_candidate_given_by_a_relative_path(monkeypatch):
    monkeypatch.chdir(ROOT)
    result = invoke("check", "examples/gated_deltanet_mixer.py")
    assert result.exit_code == 0, result.output
    for gate in ("parse", "contract", "imports", "load", "shape", "finite", "causality", "batch_independence",
                 "parameter_budget", "speed", "subquadratic", "local_growth"):  # fmt: skip
        assert gate in result.output
    assert "FAIL" not in result.output


@pytest.mark.parametrize(
    "source,gate",
    [
        (
            "import os\nimport torch\n\nclass Mixer(torch.nn.Module):\n    def __init__(self, d_model, num_heads):\n        super().__init__()\n\n    def forward(self, x):\n        return x\n",
            "imports",
        ),
        (
            "import torch\n\nclass Mixer(torch.nn.Module):\n    def __init__(self, d_model, num_heads):\n        super().__init__()\n\n    def forward(self, x):\n        return x[:, :-1]\n",
            "shape",
        ),
    ],
)
def test_check_fails_with_the_gate_that_names_the_problem(tmp_path, source, gate):
    path = tmp_path / "candidate.py"
    path.write_text(source)
    result = invoke("check", str(path))
    assert result.exit_code == 1
    assert "FAIL" in result.output and gate in result.output


def test_check_kills_a_hanging_candidate_at_the_time_limit():
    hangs = ROOT / "tests" / "execute" / "fixtures" / "hangs.py"
    result = invoke("check", str(hangs), "--set", "execution.gate_timeout_s=5")
    assert result.exit_code == 1
    assert "timeout" in result.output and "infinite loop" in result.output


def test_help_lists_the_commands():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("eval", "check", "baselines", "config"):
        assert command in result.output


def test_unwritable_save_path_is_one_clear_line(tiny_config, tmp_path):
    target = tmp_path / "missing-dir" / "results.json"
    result = invoke(
        "eval",
        str(EXAMPLES / "gated_deltanet_mixer.py"),
        "--config",
        str(tiny_config),
        "--references",
        "softmax",
        "--save",
        str(target),
    )
    assert result.exit_code == 2
    assert "cannot write results" in result.output and "writable path" in result.output


def test_check_a_reference_by_zoo_name_shows_its_figures():
    result = invoke("check", "zoo:softmax")
    assert result.exit_code == 1 and "subquadratic" in result.output and "compute grows" in result.output
    assert invoke("check", "zoo:lstm").exit_code == 2


def test_the_verdict_says_what_a_campaign_would_do_at_screen_and_at_confirm():
    from asiarch.cli import stage_verdict
    from asiarch.config import Config
    from tests.agents.results import ACC, NATS, results, summary, two_task_stage

    def at_confirm(mqar: list[float], lm: list[float]) -> dict:
        return {"mqar": summary("mqar", ACC, mqar, first_seed=1000), "lm": summary("lm", NATS, lm, first_seed=1000)}

    confirm = two_task_stage(seeds=2).model_copy(update={"reference_seeds": 3, "seed_base": 1000})
    config = Config(
        stages={"screen": two_task_stage(), "confirm": confirm},
        analyst={"rivals": ["strong", "weak"], "max_promotions": 1},
    )
    references = {
        "strong": results([0.90, 0.92, 0.94], [2.00, 2.10, 2.20]),
        "weak": results([0.80, 0.82, 0.84], [1.90, 1.95, 2.00]),
    }
    screen = stage_verdict(config, "screen", results([0.95], [2.0]), references)
    assert screen.fitness["strongest"] == "strong" and screen.fitness["split"] == "validation"
    assert screen.verdict["decision"] == "promote" and "would promote it" in screen.text
    behind = stage_verdict(config, "screen", results([0.80], [2.3]), references)
    assert behind.verdict["decision"] == "do not promote"
    confirm_references = {name: at_confirm(r["mqar"].values, r["lm"].values) for name, r in references.items()}
    confirmed = stage_verdict(config, "confirm", at_confirm([0.95, 0.97], [2.0, 2.1]), confirm_references)
    assert confirmed.verdict["decision"] in ("discovery", "not a discovery") and confirmed.verdict["m"] == 1
    assert "look 1 of 1" in confirmed.text and confirmed.fitness["split"] == "test"
