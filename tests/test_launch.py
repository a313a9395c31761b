"""The command a training stage runs itself under, from its params (docs/training.md). Running
it for real: tests/test_distributed.py and tests/test_resume.py."""

import dataclasses
import os
import sys

import pytest

from conftest import ROOT
from humpback.config import ParamsError, TrainParams
from humpback.launch import LAUNCHER_PID, NODE_COPY, WORKER, launch_command

PARAMS = TrainParams(method="lora", steps=2, batch_size=8, micro_batch_size=4, learning_rate=1e-4,
                     final_lr_fraction=0.9, weight_decay=0.1, dropout=0.1, max_length=64, lora_r=8,
                     lora_alpha=16, lora_target_modules=["all-linear"], lora_top_layers=None,
                     checkpoint_every=None, device="cpu", launcher="accelerate", processes=2)
STAGE = ["stages/backward.py", "models/base", "data/train/0.jsonl", "models/backward", "m.json",
         "l.csv"]


@pytest.fixture(autouse=True)
def project_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # config paths are relative to the project, as in a stage


def flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_accelerate_runs_the_same_stage_command_on_loopback():
    argv, env = launch_command(PARAMS, "backward", STAGE, {"PATH": os.environ["PATH"]})
    assert argv[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert argv[-len(STAGE):] == STAGE
    assert flag(argv, "--config_file") == "configs/accelerate/ddp.yaml"
    assert (flag(argv, "--num_processes"), flag(argv, "--num_machines")) == ("2", "1")
    assert (flag(argv, "--main_process_ip"), flag(argv, "--main_process_port")) == ("127.0.0.1", "0")
    assert env[WORKER] == "1" and env[LAUNCHER_PID] == str(os.getpid())


def test_torchrun_runs_processes_per_node_on_a_free_loopback_port():
    params = dataclasses.replace(PARAMS, launcher="torchrun", processes=4)
    argv, env = launch_command(params, "forward", STAGE, {})
    assert argv[:3] == [sys.executable, "-m", "torch.distributed.run"]
    assert {"--nnodes=1", "--node_rank=0", "--nproc_per_node=4", "--master_addr=127.0.0.1"} <= set(argv)
    assert int(next(a for a in argv if a.startswith("--master_port=")).split("=")[1]) > 0
    assert argv[-len(STAGE):] == STAGE and env[WORKER] == "1"


def test_two_nodes_meet_at_the_main_address():
    params = dataclasses.replace(PARAMS, nodes=2, accelerate_config="configs/accelerate/fsdp.yaml")
    with pytest.raises(ParamsError, match="backward.nodes: 2 nodes need MASTER_ADDR"):
        launch_command(params, "backward", STAGE, {})
    with pytest.raises(ParamsError, match="set HUMPBACK_MACHINE_RANK to this node's number, 0 to 1"):
        launch_command(params, "backward", STAGE, {"MASTER_ADDR": "10.0.0.1"})
    argv, _ = launch_command(params, "backward", STAGE, {
        "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29511", "HUMPBACK_MACHINE_RANK": "1"})
    assert (flag(argv, "--num_processes"), flag(argv, "--num_machines")) == ("4", "2")
    assert (flag(argv, "--machine_rank"), flag(argv, "--main_process_ip")) == ("1", "10.0.0.1")
    assert flag(argv, "--main_process_port") == "29511" and "--same_network" in argv
    assert flag(argv, "--config_file") == "configs/accelerate/fsdp.yaml"


def test_in_a_slurm_job_the_stage_spans_the_nodes_then_each_node_launches(tmp_path):
    params = dataclasses.replace(PARAMS, nodes=2)
    srun = tmp_path / "srun"  # found on PATH, never run here
    srun.write_text("#!/bin/sh\n")
    srun.chmod(0o755)
    slurm = {"SLURM_JOB_ID": "7", "PATH": str(tmp_path), "MASTER_ADDR": "node-a"}
    argv, env = launch_command(params, "backward", STAGE, slurm)
    assert argv[0] == str(srun) and {"--nodes=2", "--ntasks-per-node=1"} <= set(argv)
    assert argv[-len(STAGE) - 1:] == [sys.executable, *STAGE] and WORKER not in env
    # what srun starts on the node numbered 1: that node's share of the processes
    argv, env = launch_command(params, "backward", STAGE, {**env, "SLURM_NODEID": "1"})
    assert (flag(argv, "--machine_rank"), flag(argv, "--main_process_ip")) == ("1", "node-a")
    assert env[WORKER] == "1" and env[NODE_COPY] == "1"


def test_a_missing_accelerate_config_is_named():
    params = dataclasses.replace(PARAMS, accelerate_config="configs/accelerate/zero3.yaml")
    with pytest.raises(ParamsError, match="backward.accelerate_config: configs/accelerate/zero3.yaml: not found"):
        launch_command(params, "backward", STAGE, {})
