import pytest
import yaml

from conftest import ROOT
from humpback.config import ParamsError, load_params


def write_params(tmp_path, change) -> str:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    change(params)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return str(path)


def test_shipped_params_load():
    params = load_params(ROOT / "params.yaml")
    assert params.models == [0, 1, 2] and params.iterations == {"1": 0, "2": 1}
    assert params.score.mode == "likelihood" and params.base.dtype == "auto"


@pytest.mark.parametrize("change, message", [
    (lambda p: p["augment"].update(temprature=0.7), "unknown key 'augment.temprature'"),
    (lambda p: p["augment"].update(temperature="hot"), "augment.temperature: expected float"),
    (lambda p: p["backward"].update(steps=True), "backward.steps: expected int"),
    (lambda p: (p["score"].update(mode="logprob"), p["curate"].update(min_score=6)),
     "curate.min_score: must be between 1 and 5"),
    (lambda p: (p["score"].update(mode="generate"), p["curate"].update(min_score=0)),
     "curate.min_score: must be between 1 and 5"),
    (lambda p: p["score"].update(mode="vibes"), "score.mode: expected one of"),
    (lambda p: p["train"].pop("learning_rate"), "missing key 'train.learning_rate'"),
    (lambda p: p["forward"].pop("steps"), "missing key 'train.steps'"),
    (lambda p: p["train"].update(lr=1e-4), "unknown key 'train.lr'"),
    (lambda p: p["forward"].update(lr=1e-4), "unknown key 'forward.lr' (known: method, steps,"),
    (lambda p: p["forward"].update(steps="many"), "forward.steps: expected int"),
    (lambda p: p["forward"].update(micro_batch_size=3), "forward.micro_batch_size: must divide"),
    (lambda p: p["train"].update(micro_batch_size=3), "train.micro_batch_size: must divide"),
    (lambda p: p["forward"].update(launcher="torchrun", processes=2, micro_batch_size=3),
     "forward.micro_batch_size: must divide batch_size (per process: 4 examples"),
    (lambda p: p["backward"].update(launcher="accelerate", nodes=0), "backward.nodes: must be at least 1"),
    (lambda p: p["train"].update(device="tpu"), "train.device: expected one of"),
    (lambda p: p["train"].update(accelerate_config="my-fsdp.yaml"), "train.accelerate_config: 'my-fsdp.yaml'"),
    (lambda p: p.update(iterations={1: 0, 2: 1}), "iterations: quote the keys"),
    (lambda p: p.update(iterations={"1": 0, "2": 0}), "iterations.2: iteration 2 must be rated by model 1"),
    (lambda p: p.update(models=[0, 1]), "models: must list model 0 and every iteration"),
    (lambda p: p.update(extra=1), "unknown key 'extra'"),
    (lambda p: p["judge"].update(api_key_env="sk-live-abc123"), "judge.api_key_env: must name an environment variable"),
    (lambda p: p["judge"].update(model="http", mode="generate"), "judge.base_url: is needed with model: http"),
    (lambda p: p["judge"].update(confidence=95), "judge.confidence: must be between 0 and 1"),
    (lambda p: p["storage"].update(push_intermediates="no"), "storage.push_intermediates: expected bool"),
    (lambda p: p["engine"].update(device="gpu"), "engine.device: 'gpu': expected auto, cpu, cuda or cuda:N"),
    (lambda p: p["judge"].update(max_in_flight=0), "judge.max_in_flight: must be at least 1"),
    (lambda p: p["rewrite"].update(max_in_flight=0), "rewrite.max_in_flight: must be at least 1"),
    (lambda p: p["rewrite"].update(retries=-1), "rewrite.retries: must be 0 or more"),
    (lambda p: p["judge"].update(retries=-1), "judge.retries: must be 0 or more"),
    (lambda p: p["engine"].update(executor="slurm"), "engine.executor: expected one of ['local', 'ray']"),
    (lambda p: p["engine"]["ray"].update(address="head-node"), "engine.ray.address: 'head-node': expected null, auto, host:port or ray://host:port"),
    (lambda p: p["engine"]["ray"].update(replicas=0), "engine.ray.replicas: must be at least 1"),
    (lambda p: p["engine"]["ray"].update(gpus_per_replica=1.5), "engine.ray.gpus_per_replica: above 1 it must be a whole number"),
    (lambda p: p["engine"].update(backend="vllm", executor="ray", tensor_parallel_size=2, ray={"address": None, "replicas": 1, "cpus_per_replica": 1, "gpus_per_replica": 1}),
     "engine.ray.gpus_per_replica: a vLLM replica needs tensor_parallel_size (2) GPUs, got 1"),
])
def test_bad_params_name_the_key(tmp_path, change, message):
    path = write_params(tmp_path, change)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert message in str(err.value) and str(err.value).startswith(path)
    assert "\n" not in str(err.value)


def test_int_is_accepted_for_float(tmp_path):
    path = write_params(tmp_path, lambda p: p["augment"].update(temperature=1))
    assert load_params(path).augment.temperature == 1.0


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ParamsError, match="not found"):
        load_params(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("base: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(tmp_path / "bad.yaml")


def test_base_model_that_cannot_be_found_is_named(tmp_path):
    from humpback.base_model import BaseModelError, materialise
    from humpback.config import BaseParams

    for name, revision in [(str(tmp_path / "missing"), None),
                           ("no-such-org/no-such-model", "0" * 40)]:
        with pytest.raises(BaseModelError, match="base.model"):
            materialise(BaseParams(model=name, dtype="float32", trust_remote_code=False,
                                   revision=revision), tmp_path / "out")


def test_a_stage_sees_only_the_params_its_dvc_yaml_entry_lists():
    """judge lists the whole judge section and some evaluate keys: it reads those, and a key it
    does not list (evaluate.batch_size, curate) is refused with the stage and the key named."""
    params = load_params(ROOT / "params.yaml", stage="judge@1")
    assert params.judge.mode == "logprob" and params.engine.backend == "hf"
    assert params.evaluate.instructions == "data/seed/eval.jsonl"
    for read, key in [(lambda: params.evaluate.batch_size, "evaluate.batch_size"),
                      (lambda: params.curate, "curate"), (lambda: params.random_seed, "random_seed")]:
        with pytest.raises(ParamsError, match=f"stage 'judge@1' reads params key '{key}', which its "
                                              "params: in dvc.yaml do not list"):
            read()
    # what a shard key hashes: the declared keys only, so an undeclared one never leaks in
    assert "batch_size" not in params.evaluate.declared()
    assert params.evaluate.declared() == {
        "instructions": "data/seed/eval.jsonl", "instruction_field": "instruction",
        "reference_field": "output", "max_instructions": None}


def test_a_section_constant_is_no_param_and_reads_without_a_declaration(tmp_path):
    """A stage that lists only judge.model still learns which section chose its model (a
    ClassVar, the same for every params file), while judge.base_url stays guarded."""
    import yaml

    path = write_params(tmp_path, lambda p: None)
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    dvc["stages"]["judge"]["do"]["params"] = ["judge.model"]
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc))
    view = load_params(path, stage="judge@1")
    assert view.judge.SECTION == "judge" and view.judge.model == "self"
    with pytest.raises(ParamsError, match="reads params key 'judge.base_url'"):
        view.judge.base_url


def test_a_foreach_stage_sees_its_own_entry(tmp_path):
    commit = "a" * 40
    path = write_params(tmp_path, lambda p: p.update(hub={
        "one": {"dataset": "org/one", "revision": commit, "split": "train"},
        "two": {"dataset": "org/two", "revision": commit, "split": "test", "max_rows": 5}}))
    (tmp_path / "dvc.yaml").write_text((ROOT / "dvc.yaml").read_text())
    view = load_params(path, stage="hub@two")
    assert list(view.hub) == ["two"] and view.hub["two"].max_rows == 5
    assert load_params(path).hub["one"].config is None  # optional keys take their defaults


def test_check_params_without_a_stage_reads_everything():
    params = load_params(ROOT / "params.yaml")
    assert params.compare.labels == "data/labels.jsonl" and params.curate.top_fraction == 0.25


def test_backward_and_forward_share_train_and_override_what_differs(tmp_path):
    path = write_params(tmp_path, lambda p: p["forward"].update(learning_rate=1e-4))
    params = load_params(path)
    assert (params.backward.train.steps, params.forward.train.steps) == (16, 12)
    assert params.backward.train.learning_rate == 3e-4 and params.forward.train.learning_rate == 1e-4
    assert params.backward.prompt == "prompts/backward.txt"
    assert params.score.prompt == "prompts/score.txt"


def test_a_training_stage_must_declare_the_shared_train_section(tmp_path):
    """forward@t trains with what `train` says: a dvc.yaml entry listing forward but not train
    would leave M_t stale when train changes, so reading it names the train key."""
    path = write_params(tmp_path, lambda p: p["forward"].update(method="full"))
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    dvc["stages"]["forward"]["do"]["params"].remove("train")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc))
    view = load_params(path, stage="forward@1")
    assert view.forward.train.steps == 12 and view.forward.train.method == "full"  # forward's own
    with pytest.raises(ParamsError, match="stage 'forward@1' reads params key 'train.batch_size'"):
        view.forward.train.batch_size
    # what a fingerprint hashes: forward's own keys, never an undeclared train key
    assert view.forward.train.declared() == {"method": "full", "steps": 12}
    full = load_params(ROOT / "params.yaml", stage="forward@1")
    assert full.forward.train == load_params(ROOT / "params.yaml").forward.train


OLD_NAMES = [
    "prompts.score moved to score.prompt",
    "prompts.backward moved to backward.prompt",
    "evaluate.labels moved to compare.labels",
    "backward.method and the other shared training keys moved to train",
    "forward.method and the other shared training keys moved to train",
]


def old_params(tmp_path) -> str:
    """params.yaml as humpback wrote it before the sections matched the stages."""
    def undo(p):
        shared = p.pop("train")
        p["prompts"].update(backward=p["backward"].pop("prompt"), score=p["score"].pop("prompt"))
        p["evaluate"]["labels"] = p.pop("compare")["labels"]
        p["backward"] = {**shared, **p["backward"]}
        p["forward"] = {**shared, **p["forward"]}
    return write_params(tmp_path, undo)


def test_an_old_params_file_fails_naming_where_its_keys_moved(tmp_path):
    path = old_params(tmp_path)
    with pytest.raises(ParamsError) as err:
        load_params(path)
    assert str(err.value) == (f"{path}: {OLD_NAMES[0]} (and 4 more: `humpback check` lists them)")


def test_check_lists_each_moved_key_on_its_own_line(tmp_path):
    from click.testing import CliRunner

    from humpback.cli import main

    path = old_params(tmp_path)
    result = CliRunner().invoke(main, ["check", path])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert [line.split(" (keep")[0] for line in lines[:5]] == [f"{path}: {n}" for n in OLD_NAMES]
    assert lines[5] == f"Error: {path}: written for an older humpback, 5 moved key(s) listed above"
