"""Safe defaults: no remote code, safetensors only, credentials never written anywhere."""

import shutil

import pytest
import torch
import yaml

from conftest import ROOT
from humpback.base_model import BaseModelError, materialise
from humpback.config import BaseParams, load_params
from humpback.models import ModelError, load_for_inference, load_for_training


def test_remote_code_is_off_by_default():
    assert load_params(ROOT / "params.yaml").base.trust_remote_code is False


def pickled_copy(tiny_model, tmp_path):
    """The tiny model with its weights in a pickled pytorch_model.bin instead of safetensors."""
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model, folder)
    state = load_for_inference(tiny_model).state_dict()
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def test_pickled_weights_are_refused(tiny_model, tmp_path):
    folder = pickled_copy(tiny_model, tmp_path)
    with pytest.raises(BaseModelError, match="no .safetensors weights"):
        materialise(BaseParams(model=str(folder), dtype="float32", trust_remote_code=False),
                    tmp_path / "base")
    for load in (load_for_inference, lambda f: load_for_training(f, full=True)):
        with pytest.raises(ModelError, match=r"pickled.*: no .safetensors weights|no .safetensors"):
            load(folder)


def test_an_adapter_without_safetensors_is_refused(tiny_model, tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    (adapter / "adapter_model.bin").write_bytes(b"")
    with pytest.raises(ModelError, match="adapter: no .safetensors weights"):
        load_for_inference(tiny_model, adapter)


def test_the_judge_key_stays_out_of_params(tmp_path):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    assert params["judge"]["api_key_env"] == "HUMPBACK_JUDGE_API_KEY"  # a name, not a key
    assert not any(str(v).startswith(("sk-", "Bearer")) for v in params["judge"].values())
