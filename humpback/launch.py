"""Running a training stage under the launcher its params name: one process (`python`), or
`accelerate launch` / `torchrun` with `processes` per node on `nodes` nodes (docs/training.md).

DVC runs the command written in dvc.yaml, and a command cannot branch on a param. So the stage
starts as DVC runs it, checks its params and inputs, and then executes itself again under the
launcher: `os.execve`, the same process, so DVC's signals reach the launcher and the launcher's exit
status is the stage's with nothing to relay. The launched copies are marked by `WORKER` in their
environment and train; only the main one (rank 0) writes files.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from pathlib import Path

from humpback.config import ParamsError, TrainParams
from humpback.training import device_and_precision

WORKER = "HUMPBACK_WORKER"  # in every launched process: train, do not launch again
LAUNCHER_PID = "HUMPBACK_LAUNCHER_PID"  # the launcher that started this worker
NODE_COPY = "HUMPBACK_NODE_COPY"  # in the per-node copies that srun starts (nodes > 1)
MACHINE_RANK = "HUMPBACK_MACHINE_RANK"  # nodes > 1 outside Slurm: this node's number, 0 = main


def relaunch(params: TrainParams, section: str) -> None:
    """Return at once with launcher `python` or inside a launched worker; otherwise replace this
    process with the launcher running this same stage command, never returning."""
    if os.environ.get(WORKER):
        _die_with_launcher()
        return
    if params.launcher == "python":
        return
    argv, env = launch_command(params, section, [sys.argv[0], *sys.argv[1:]], dict(os.environ))
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)


def is_main_process() -> bool:
    """The process that writes the stage's outputs: the only one, or rank 0 of a launch."""
    return int(os.environ.get("RANK", "0")) == 0


def launch_command(params: TrainParams, section: str, stage_argv: list[str],
                   environ: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """The launcher's command line and environment for this node."""
    if params.nodes > 1 and "SLURM_JOB_ID" in environ and NODE_COPY not in environ:
        # DVC runs on one node of the allocation: one copy of the stage per node, each of which
        # launches that node's processes.
        srun = shutil.which("srun", path=environ.get("PATH"))
        if srun is None:
            raise ParamsError(f"{section}.nodes: {params.nodes}, inside a Slurm job, but srun is "
                              "not on PATH")
        return ([srun, f"--nodes={params.nodes}", f"--ntasks={params.nodes}",
                 "--ntasks-per-node=1", "--kill-on-bad-exit=1", sys.executable, *stage_argv],
                {**environ, NODE_COPY: "1"})
    _check_devices(params, section)
    rank, address, port = _rendezvous(params, section, environ)
    env = {**environ, WORKER: "1", LAUNCHER_PID: str(os.getpid())}
    if params.launcher == "accelerate":
        config = Path(params.accelerate_config)
        if not config.is_file():
            raise ParamsError(f"{section}.accelerate_config: {config}: not found")
        argv = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config),
                "--num_processes", str(params.world_size), "--num_machines", str(params.nodes),
                "--machine_rank", str(rank), "--main_process_ip", address,
                "--main_process_port", str(port)]
        if params.nodes > 1:
            argv.append("--same_network")  # a fixed address and port, as torchrun's below
        return [*argv, *stage_argv], env
    if port == 0:
        port = _free_port()
    return ([sys.executable, "-m", "torch.distributed.run", f"--nnodes={params.nodes}",
             f"--node_rank={rank}", f"--nproc_per_node={params.processes}",
             f"--master_addr={address}", f"--master_port={port}", *stage_argv], env)


def _check_devices(params: TrainParams, section: str) -> None:
    """A launch asking for more GPU processes than this node has GPUs fails here, in one line,
    instead of as a traceback from every process."""
    import torch

    device, _ = device_and_precision(params, section)
    if device == "cuda" and params.processes > torch.cuda.device_count():
        raise ParamsError(f"{section}.processes: {params.processes} per node, but this node has "
                          f"{torch.cuda.device_count()} GPU(s) (CUDA_VISIBLE_DEVICES="
                          f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")


def _rendezvous(params: TrainParams, section: str, environ: dict[str, str]) -> tuple[int, str, int]:
    """(this node's rank, the main node's address, its port). One node talks over loopback on a
    free port; several meet at MASTER_ADDR:MASTER_PORT (the Slurm script exports them)."""
    if params.nodes == 1:
        return 0, "127.0.0.1", 0  # 0: the launcher picks a free port
    if "MASTER_ADDR" not in environ:
        raise ParamsError(f"{section}.nodes: {params.nodes} nodes need MASTER_ADDR, the main "
                          "node's address, in the environment (configs/slurm/train-2nodes.sbatch "
                          "sets it)")
    rank = environ.get("SLURM_NODEID") if NODE_COPY in environ else environ.get(MACHINE_RANK)
    if rank is None or not rank.isdigit() or int(rank) >= params.nodes:
        raise ParamsError(f"{section}.nodes: {params.nodes} nodes outside Slurm: set {MACHINE_RANK} "
                          f"to this node's number, 0 to {params.nodes - 1} (got {rank!r})")
    return int(rank), environ["MASTER_ADDR"], int(environ.get("MASTER_PORT", "29500"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _die_with_launcher() -> None:
    """Torch's launcher starts each worker in a session of its own, so a kill of DVC's process
    group (Ctrl-C, kill -9 of the run) would leave the workers training and writing checkpoints
    under the next run. On Linux the kernel kills a worker when its launcher dies."""
    parent = os.environ.get(LAUNCHER_PID)
    if not sys.platform.startswith("linux") or parent is None:
        return
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(parent):  # the launcher died before prctl took effect
        os._exit(1)
