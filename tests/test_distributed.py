"""Training on two processes (gloo, this CPU) under the real `dvc repro`: the same maths as one
process, whichever launcher starts them. Kill and resume with two processes: tests/test_resume.py."""

import json

import pytest
import yaml
from safetensors.torch import load_file

from test_pipeline import make_project, repro

pytestmark = pytest.mark.e2e


def set_backward(project, **values) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["backward"].update(values)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def loss_curve(project) -> list[str]:
    return (project / "plots/loss/backward.csv").read_text().splitlines()


def test_two_processes_train_the_same_adapter_as_one(tmp_path_factory, tiny_model, monkeypatch):
    # One GEMM thread per process in every run: then the only difference left between one and
    # two processes is the distribution itself, and for two processes that is exact (x2 before,
    # /2 after the all-reduce, and a + b summed in either order). Dropout off: each process draws
    # its own masks. Loopback only.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    project = make_project(tmp_path_factory, tiny_model)
    set_backward(project, dropout=0.0, steps=3)
    assert "backward" in repro(project, "backward")
    adapter = project / "models/backward/adapter_model.safetensors"
    one, one_curve = adapter.read_bytes(), loss_curve(project)
    weights = load_file(adapter)
    assert max(w.abs().max().item() for k, w in weights.items() if "lora_B" in k) > 3e-4  # trained (lr 3e-4)

    for launcher in ("accelerate", "torchrun"):
        set_backward(project, launcher=launcher, processes=2)
        assert repro(project, "backward") == {"backward"}, launcher
        metrics = json.loads((project / "metrics/backward.json").read_text())
        assert (metrics["processes"], metrics["device"], metrics["mixed_precision"]) == (2, "cpu", "no")
        assert adapter.read_bytes() == one, launcher
        assert loss_curve(project) == one_curve and len(one_curve) == 1 + 3, launcher
        card = (project / "models/backward/README.md").read_text()
        assert f"launcher: {launcher}" in card and "processes: 2" in card


def test_full_fine_tuning_sharded_over_two_processes_matches_one(tmp_path_factory, tiny_model,
                                                                 monkeypatch):
    """configs/accelerate/fsdp.yaml (FSDP2: weights, gradients and Adam states sharded; each
    layer gathered while it runs) on gloo: the same fp32 model, byte for byte."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    project = make_project(tmp_path_factory, tiny_model)
    set_backward(project, method="full", dropout=0.0, steps=2)
    assert "backward" in repro(project, "backward")
    model = project / "models/backward/model.safetensors"
    one, one_curve = model.read_bytes(), loss_curve(project)

    set_backward(project, launcher="accelerate", processes=2,
                 accelerate_config="configs/accelerate/fsdp.yaml")
    assert repro(project, "backward") == {"backward"}
    assert json.loads((project / "metrics/backward.json").read_text())["processes"] == 2
    assert model.read_bytes() == one and loss_curve(project) == one_curve


def test_an_fsdp_run_resumes_from_a_checkpoint_rank_0_broadcasts(tiny_model, tmp_path,
                                                                 monkeypatch):
    """2-process FSDP2 on gloo: the checkpoint is read by rank 0 alone and broadcast into the
    shards; the resumed full fine-tune ends in the uninterrupted run's bytes."""
    import subprocess
    import sys

    from conftest import ROOT

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("GLOO_SOCKET_IFNAME", "lo")
    run = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
         "configs/accelerate/fsdp.yaml", "--num_processes", "2", "--main_process_port", "29541",
         "tests/fsdp_resume.py", str(tiny_model), str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "resumed_at_step 2" in run.stdout
    whole, resumed = (tmp_path / name / "model.safetensors" for name in ("whole", "resumed"))
    assert resumed.read_bytes() == whole.read_bytes()
