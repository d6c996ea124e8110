import os
from pathlib import Path

import pytest

from asiarch.config import Config, ConfigError, ExecutionConfig, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_shipped_preset_equals_the_built_in_defaults():
    assert load_config(ROOT / "configs" / "cpu-default.yaml") == Config()


def test_dotted_override_is_parsed_as_yaml():
    cfg = load_config(None, ["execution.workers=3", "stages.screen.tasks.mqar.train.lrs=[0.1]"])
    assert cfg.execution.workers == 3
    assert cfg.stages["screen"].tasks["mqar"].train.lrs == [0.1]


def test_unknown_key_is_one_line_naming_it(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("execution:\n  wokers: 3\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "execution.wokers" in message and "\n" not in message


def test_invalid_value_names_key_and_value():
    with pytest.raises(ConfigError, match=r"execution.workers.*-1"):
        load_config(None, ["execution.workers=-1"])


def test_heads_must_divide_width():
    with pytest.raises(ConfigError, match="divisible"):
        load_config(None, ["stages.screen.tasks.mqar.model.num_heads=3"])


def test_yaml_stage_replaces_default_stage_whole(tmp_path):
    path = tmp_path / "one.yaml"
    path.write_text("stages:\n  screen:\n    tasks:\n      only:\n        task: mqar\n")
    cfg = load_config(path)
    assert list(cfg.stages["screen"].tasks) == ["only"]
    assert "confirm" in cfg.stages


def test_malformed_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stages: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")


def test_unknown_stage_lists_the_known_ones():
    with pytest.raises(ConfigError, match="screen, confirm"):
        Config().stage("scale")


def test_workers_default_to_usable_cores_per_job():
    cores = len(os.sched_getaffinity(0))
    assert ExecutionConfig().worker_count() == max(1, cores)
    assert ExecutionConfig(threads_per_worker=2).worker_count() == max(1, cores // 2)
    assert ExecutionConfig(workers=3).worker_count() == 3


def test_a_lease_shorter_than_two_heartbeats_is_refused():
    with pytest.raises(ConfigError, match=r"campaign.lease_s \(15\) must be at least twice campaign.heartbeat_s"):
        load_config(None, ["campaign.lease_s=15", "campaign.heartbeat_s=10"])


def test_the_gpu_preset_trains_every_stage_on_cuda_and_adds_a_scale_stage():
    config = load_config(ROOT / "configs" / "gpu.yaml")
    assert sorted(config.stages) == ["confirm", "scale", "screen"]
    runs = [run for stage in config.stages.values() for run in stage.tasks.values()]
    assert all(run.train.device == "cuda" and run.train.precision == "bf16" and run.train.kernels for run in runs)
    scale_lm = config.stage("scale").tasks["lm"]
    assert (scale_lm.model.n_layers, scale_lm.model.d_model) == (8, 512)
    tokens = scale_lm.train.steps * scale_lm.train.batch_size * scale_lm.params["seq_len"]
    assert 2e8 <= tokens <= 5e8  # "a few hundred million tokens"
    assert config.execution.ray.num_gpus == 1
