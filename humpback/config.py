"""The one typed loader for params.yaml.

Every section of params.yaml is a dataclass below, named like the stage that reads it. The loader
rejects unknown keys, missing keys, wrong types and out-of-range values with a one-line message that
names the key, so a typo fails in a second instead of after an hour of training. Where inputs
named in params may live is inputs.py; what one stage may read of them is stage.py's StageParams.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal, Optional

import yaml

from humpback.errors import ParamsError
from humpback.inputs import (CHOICE_KEYWORDS, COMMIT, EMBEDDED_MODEL, HUB_ID, LAUNCH_CONFIGS,
                             check_file_source, check_layout, check_model_source)
from humpback.scoring_modes import MODES, ModeName
from humpback.stage import StageParams, declared_params

HUB_FILE_TYPES = (".json", ".jsonl", ".parquet")  # the data files hub@<name> reads as they are


@dataclass(frozen=True)
class BaseParams:
    model: str  # "smollm2" (embedded, offline), a folder under models/sources, or a hub id
    # auto: float32 on a CPU, bfloat16 on a GPU that has it (humpback.models.resolve_dtype), for
    # the engines and training alike; models/base keeps the source's own dtype (GGUF: float32)
    dtype: Literal["auto", "bfloat16", "float16", "float32"]
    trust_remote_code: bool
    revision: Optional[str] = None  # a hub id's commit (40 hex characters); null otherwise

    def __post_init__(self):
        check_model_source(self.model, self.revision, "model", "revision",
                           keywords=(EMBEDDED_MODEL,))


@dataclass(frozen=True)
class HubDataset:
    """A Hugging Face hub dataset brought into the workspace by the `hub@<name>` stage."""
    dataset: str  # the hub id, e.g. OpenAssistant/oasst1
    revision: str  # the commit to read: a branch moves under you, a commit does not
    split: Optional[str] = None  # the split datasets loads; null with `file`
    config: Optional[str] = None  # the subset (configuration) name, if the dataset has several
    max_rows: Optional[int] = None  # only the first rows (a sample of a very large corpus)
    # One data file of the repository (json, jsonl or parquet), read as it is: for repositories
    # that ship a loading script, which datasets >= 4 no longer runs (tatsu-lab/alpaca_eval).
    file: Optional[str] = None

    def __post_init__(self):
        _require(HUB_ID.fullmatch(self.dataset), "dataset", "must be a hub id such as "
                 "OpenAssistant/oasst1")
        if self.file is None:
            _require(self.split, "split", "must name a split (or set file to one of the "
                     "repository's data files)")
        else:
            _require(self.file.endswith(HUB_FILE_TYPES), "file",
                     f"must be a {', '.join(HUB_FILE_TYPES)} file of the repository")
            _require(self.split is None and self.config is None, "split",
                     "the file is the rows: with file, leave split and config out")
        _require(COMMIT.fullmatch(self.revision), "revision",
                 "must be a commit id (40 hex characters; the dataset's page lists them under "
                 "'Files and versions'), so that the data cannot change under the same params")
        _require(self.max_rows is None or self.max_rows > 0, "max_rows", "must be positive or null")


@dataclass(frozen=True)
class SeedParams:
    source: str  # a .jsonl file (a hub dataset: via the hub section, data/hub/<name>.jsonl)
    format: Literal["pairs", "oasst1"]  # oasst1: the paper's selection from Open Assistant rows
    language: str  # oasst1 only
    eval_fraction: float
    max_pairs: Optional[int]

    def __post_init__(self):
        check_file_source(self.source, "source")
        _require(0 < self.eval_fraction < 1, "eval_fraction", "must be between 0 and 1")


@dataclass(frozen=True)
class CorpusParams:
    # "pydoc"; files/folders under data/sources or data/hub: .txt .md .rst, .html .htm (also in
    # .zip .tar .tar.gz), .warc .warc.gz (Common Crawl), .wet .wet.gz, .jsonl .jsonl.gz
    # .jsonl.zst (.json.gz), .parquet
    sources: list[str]
    text_field: str  # the text column of jsonl, parquet and hub sources
    min_chars: int
    max_chars: int
    split_long: bool  # cut sections over max_chars at paragraph breaks instead of dropping them
    max_segments: Optional[int]
    # an unusable source record (bad JSON or UTF-8, a malformed WARC record, a page that cannot
    # be decoded, an empty file): stop with its file and line, or skip it and count it in
    # metrics/corpus.json (rejected_records)
    on_bad_record: Literal["error", "skip"] = "error"
    # how documents become segments (humpback/corpus/segments.py): auto = headings for sources
    # that have them (pydoc, text, HTML, WARC), lines for extracted web text (jsonl, parquet, WET)
    segmentation: Literal["auto", "headings", "document", "paragraphs", "lines"] = "auto"
    title_field: Optional[str] = None  # jsonl/parquet: a field that serves as the heading
    url_field: Optional[str] = "url"  # jsonl/parquet: the page's URL, recorded with its segments
    # drop documents that py3langid finds, with at least min_language_score probability, to be
    # in a language not listed (an unsure answer keeps the text); null: any language
    languages: Optional[list[str]] = None
    min_language_score: float = 0.5
    # near-duplicates: MinHash LSH over word shingles (rensa); null: exact duplicates only
    near_dup_threshold: Optional[float] = None
    near_dup_shingle: int = 5  # words per shingle
    near_dup_permutations: int = 128
    # processes that read, extract and filter documents (0: one per core); the output is the
    # same bytes for any number. executor ray: tasks on a Ray cluster (docs/inputs.md)
    workers: int = 1
    executor: Literal["local", "ray"] = "local"
    ray_address: Optional[str] = None  # executor ray: null (start one here) | auto | host:port

    def __post_init__(self):
        _require(self.sources, "sources", "must name at least one source")
        for i, source in enumerate(self.sources):
            check_file_source(source, f"sources[{i}]")
        _require(0 < self.min_chars <= self.max_chars, "min_chars",
                 "must be positive and at most max_chars")
        _require(self.languages is None or len(self.languages) > 0, "languages",
                 "must name at least one language (ISO 639-1, e.g. [en]), or be null for any")
        _require(0 <= self.min_language_score <= 1, "min_language_score",
                 "must be between 0 and 1")
        _require(self.near_dup_threshold is None or 0 < self.near_dup_threshold < 1,
                 "near_dup_threshold", "must be between 0 and 1 (exclusive), or null for off")
        _require(self.near_dup_shingle >= 1, "near_dup_shingle", "must be at least 1")
        _require(self.near_dup_permutations >= 2
                 and self.near_dup_permutations & (self.near_dup_permutations - 1) == 0,
                 "near_dup_permutations", "must be a power of two (64, 128, 256)")
        _require(self.workers >= 0, "workers", "must be 0 (one per core) or more")
        _require(self.ray_address is None or self.ray_address == "auto"
                 or re.fullmatch(r"(ray://)?[\w.-]+:\d+", self.ray_address) is not None,
                 "ray_address", f"{self.ray_address!r}: expected null, auto, host:port or "
                 f"ray://host:port")


@dataclass(frozen=True)
class PromptParams:
    """The paper's source tags: how M_t is prompted in training (forward), evaluation and chat."""
    seed_tag: str  # appended to seed instructions
    augmented_tag: str  # appended to curated instructions


@dataclass(frozen=True)
class TrainParams:
    """One training run, as `train` in params.yaml describes it for backward and forward alike,
    with what that stage's own section sets over it (see TRAINED)."""
    method: Literal["lora", "full"]
    steps: int
    batch_size: int
    micro_batch_size: int
    learning_rate: float
    final_lr_fraction: float  # linear decay to this fraction of the start (paper: 1e-5 -> 9e-6)
    weight_decay: float
    dropout: float
    max_length: int
    lora_r: int
    lora_alpha: int
    lora_target_modules: list[str]
    lora_top_layers: Optional[int]  # adapt only the top N layers (backprop stops there); null: all
    checkpoint_every: Optional[int]  # steps between resumable checkpoints in .humpback/; null: none
    # Where and how it trains (docs/training.md). The defaults keep older params files valid.
    device: Literal["auto", "cpu", "cuda"] = "auto"  # auto: cuda if a GPU is visible, else cpu
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"  # auto: bf16 where the GPU has it
    launcher: Literal["python", "accelerate", "torchrun"] = "python"  # python: one process
    processes: int = 1  # per node (one per GPU); batch_size stays the global batch
    nodes: int = 1
    accelerate_config: str = LAUNCH_CONFIGS + "/ddp.yaml"  # launcher accelerate only
    # recompute activations in the backward pass: far less memory at long max_length, ~30 % slower
    gradient_checkpointing: bool = False

    @property
    def world_size(self) -> int:
        return self.processes * self.nodes

    def __post_init__(self):
        _require(self.steps > 0, "steps", "must be positive")
        _require(self.processes >= 1, "processes", "must be at least 1")
        _require(self.nodes >= 1, "nodes", "must be at least 1")
        _require(self.launcher != "python" or self.world_size == 1, "launcher",
                 f"python runs one process; {self.processes} processes x {self.nodes} nodes need "
                 "accelerate or torchrun")
        _require(self.batch_size % self.world_size == 0, "batch_size",
                 f"{self.batch_size} does not split evenly over {self.world_size} processes "
                 f"(processes x nodes): make it a multiple of {self.world_size}")
        share = self.batch_size // self.world_size
        _require(0 < self.micro_batch_size <= self.batch_size
                 and share % min(self.micro_batch_size, share) == 0,
                 "micro_batch_size", f"must divide batch_size (per process: {share} examples "
                 f"= batch_size / {self.world_size} processes)" if self.world_size > 1 else
                 "must divide batch_size")
        _require(not (self.mixed_precision == "fp16" and self.device == "cpu"), "mixed_precision",
                 "fp16 needs a CUDA GPU (device: cuda or auto); on a CPU use bf16 or no")
        _require(0 <= self.final_lr_fraction <= 1, "final_lr_fraction", "must be in [0, 1]")
        _require(0 <= self.dropout < 1, "dropout", "must be in [0, 1)")


@dataclass(frozen=True)
class BackwardParams:
    """backward: M_yx, trained on the seed pairs reversed; augment prompts it the same way."""
    prompt: str  # template file: a text y -> the instruction x it answers
    train: TrainParams  # the `train` section with this section's training keys over it


@dataclass(frozen=True)
class ForwardParams:
    """forward@t: M_t, trained on the seed pairs and iteration t's curated pairs."""
    train: TrainParams  # the `train` section with this section's training keys over it


# The sections that train a model: each is the shared `train` section plus its own keys, of which
# those named like a training knob (steps, or any key of train) override the shared value.
TRAINED = ("backward", "forward")


@dataclass(frozen=True)
class RayParams:
    """Where chunks run with `engine.executor: ray` (see docs/cluster.md)."""
    address: Optional[str]  # null: start Ray on this machine (or join $RAY_ADDRESS); auto | host:port | ray://host:port
    replicas: int  # engines, each loaded once and fed chunk after chunk
    cpus_per_replica: float
    gpus_per_replica: float  # fractions share a GPU (0.5: two replicas per GPU)

    def __post_init__(self):
        _require(self.address is None or self.address == "auto"
                 or re.fullmatch(r"(ray://)?[\w.-]+:\d+", self.address) is not None, "address",
                 f"{self.address!r}: expected null, auto, host:port or ray://host:port")
        _require(self.replicas >= 1, "replicas", "must be at least 1")
        _require(self.cpus_per_replica > 0, "cpus_per_replica", "must be positive")
        _require(self.gpus_per_replica >= 0, "gpus_per_replica", "must be 0 or more")
        _require(self.gpus_per_replica <= 1 or float(self.gpus_per_replica).is_integer(),
                 "gpus_per_replica", "above 1 it must be a whole number")


@dataclass(frozen=True)
class EngineParams:
    # Where a generation stage's chunks run, never what they produce (every chunk is made from
    # its own records and seed, wherever it runs: chunk_runner.py). A stage reads these without
    # listing them in dvc.yaml (stage.StageParams), so moving a run onto a cluster, or resizing
    # it, re-runs nothing; every other engine key is listed by the stages that read it.
    PLACEMENT: ClassVar[tuple[str, ...]] = ("executor", "ray")
    backend: Literal["hf", "vllm"]  # Hugging Face transformers, or vLLM's offline engine
    device: str  # hf: auto (a GPU when torch sees one, else the CPU) | cpu | cuda | cuda:N
    chunk_size: int  # records per chunk written to disk as generation goes (memory stays flat)
    executor: Literal["local", "ray"]  # local: in the stage's process; ray: on replicas (section ray)
    ray: RayParams
    # vLLM only (see README, "GPU settings"):
    tensor_parallel_size: int
    gpu_memory_utilization: float
    max_num_seqs: int
    max_model_len: int
    # skip graph capture: auto is eager on a CPU (starts in ~20 s, not 60-80 s), CUDA graphs on GPUs
    enforce_eager: Literal["auto", True, False]
    cpu_kvcache_gb: int  # KV cache size when vLLM runs on the CPU (VLLM_CPU_KVCACHE_SPACE)

    def __post_init__(self):
        _require(self.chunk_size > 0, "chunk_size", "must be positive")
        _require(isinstance(self.enforce_eager, bool) or self.enforce_eager == "auto",
                 "enforce_eager", f"expected auto, true or false, got {self.enforce_eager!r}")
        _require(0 < self.gpu_memory_utilization <= 1, "gpu_memory_utilization",
                 "must be in (0, 1]")
        _require(re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device) is not None, "device",
                 f"{self.device!r}: expected auto, cpu, cuda or cuda:N")
        _require(not (self.executor == "ray" and self.backend == "vllm"
                      and 0 < self.ray.gpus_per_replica < self.tensor_parallel_size),
                 "ray.gpus_per_replica", f"a vLLM replica needs tensor_parallel_size "
                 f"({self.tensor_parallel_size}) GPUs, got {self.ray.gpus_per_replica:g}")


@dataclass(frozen=True)
class AugmentParams:
    max_new_tokens: int
    temperature: float
    top_p: float
    batch_size: int


@dataclass(frozen=True)
class ScoreParams:
    mode: ModeName  # likelihood | logprob | generate: the table in humpback/scoring_modes.py
    prompt: str  # template file: the 5-point rubric, rubric first so engines can cache it
    batch_size: int
    max_new_tokens: int  # generate mode: room for the brief reasoning and the `Score: n` line
    max_segment_chars: int  # long candidates are cut in the rating prompt (not in the data)
    samples: int  # generate mode: ratings per candidate, averaged
    temperature: float  # generate mode: 0 is greedy; samples > 1 needs sampling
    check_sample: int = 0  # candidates rated again with swapped outputs (the rater check); 0: none
    check_confidence: float = 0.95  # of the rater check's AUC interval

    def __post_init__(self):
        _require(self.samples >= 1, "samples", "must be at least 1")
        _require(self.check_sample == 0 or self.check_sample >= 2, "check_sample",
                 "must be 0 (no check) or at least 2")
        _require(0 < self.check_confidence < 1, "check_confidence", "must be between 0 and 1")
        sampling = " or ".join(f"mode: {m.name}" for m in MODES.values() if m.samples)
        _require(self.samples == 1 or (MODES[self.mode].samples and self.temperature > 0),
                 "samples", f"more than one rating needs {sampling} and temperature > 0")


@dataclass(frozen=True)
class CurateParams:
    # k: keep candidates scoring >= k, on the scoring mode's scale (humpback/scoring_modes.py:
    # 1-5 for the rubric modes, nats per token for likelihood); null: no threshold
    min_score: Optional[float]
    top_fraction: Optional[float]  # then keep at most this fraction of candidates, best first

    def __post_init__(self):
        _require(self.top_fraction is None or 0 < self.top_fraction <= 1,
                 "top_fraction", "must be in (0, 1] or null")


@dataclass(frozen=True)
class EvaluateParams:
    instructions: str  # jsonl of held-out instructions (default: the seed split)
    instruction_field: str
    reference_field: Optional[str]  # reference answers, if the set has them; null: none
    max_instructions: Optional[int]
    max_new_tokens: int
    batch_size: int
    nll_max_length: int  # prompt + reference tokens kept when measuring the reference NLL

    def __post_init__(self):
        check_file_source(self.instructions, "instructions")
        _require(self.max_new_tokens > 0, "max_new_tokens", "must be positive")


@dataclass(frozen=True)
class CompareParams:
    labels: str  # jsonl of {id, instruction, label: good|bad}: how good each curated set is


@dataclass(frozen=True)
class ModelChoice:
    """A model chosen by name or endpoint: the keys the judge and rewrite sections share, checked
    once. `SECTION` names the section in the errors of an endpoint (engines/http.py)."""
    SECTION: ClassVar[str]
    model: str  # self (the stage's own model) | base | a folder under models/sources, a hub id | http
    revision: Optional[str]  # a hub id's commit (40 hex characters); null otherwise
    base_url: Optional[str]  # model: http; an OpenAI-compatible endpoint, e.g. http://host:8000/v1
    api_model: Optional[str]  # model: http; the model name the endpoint serves
    api_key_env: str  # model: http; the environment variable holding the key (never the key)
    max_in_flight: int  # model: http; requests open at once
    retries: int  # model: http; further tries of a request refused with 429 or 5xx (with backoff)

    def __post_init__(self):
        check_model_source(self.model, self.revision, "model", "revision",
                           keywords=CHOICE_KEYWORDS)
        _require(self.max_in_flight >= 1, "max_in_flight", "must be at least 1")
        _require(self.retries >= 0, "retries", "must be 0 or more")
        _require(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.api_key_env) is not None,
                 "api_key_env", "must name an environment variable; keep the key itself out of "
                 "params.yaml")
        if self.model == "http":
            _require(self.base_url, "base_url", "is needed with model: http")
            _require(self.api_model, "api_model", "is needed with model: http")


@dataclass(frozen=True)
class JudgeParams(ModelChoice):
    """judge@t's judge (`model: self`: the model under test), and how it judges."""
    SECTION = "judge"
    mode: Literal["logprob", "generate"]
    prompt: str  # template file with {instruction}, {output_a}, {output_b}
    max_new_tokens: int  # generate mode
    batch_size: int
    confidence: float  # of the win rate's interval

    def __post_init__(self):
        super().__post_init__()
        _require(0 < self.confidence < 1, "confidence", "must be between 0 and 1")


@dataclass(frozen=True)
class RewriteParams(ModelChoice):
    """Answer rewriting (Nguyen et al. 2024) between curate@t and forward@t: off by default.
    `model: self` is M_{t-1}, the iteration's rater."""
    SECTION = "rewrite"
    enabled: bool
    prompt: str  # template file with {instruction} and {original}
    max_new_tokens: int  # a rewrite that needs more is cut off: dropped and counted
    temperature: float  # 0: greedy
    batch_size: int

    def __post_init__(self):
        super().__post_init__()
        _require(self.max_new_tokens > 0, "max_new_tokens", "must be positive")


@dataclass(frozen=True)
class StorageParams:
    push_intermediates: bool  # false: `humpback push` skips the base model, candidates, scores


@dataclass(frozen=True)
class Params:
    random_seed: int
    models: list[int]  # forward@t for each t: M_0 .. M_N
    iterations: dict[str, int]  # "t" -> the model that rates candidates in iteration t (t - 1)
    hub: dict[str, HubDataset]  # name -> a pinned hub dataset, written to data/hub/<name>.jsonl
    base: BaseParams
    seed: SeedParams
    corpus: CorpusParams
    prompts: PromptParams
    # params.yaml's `train` section has no field here: the loader writes it into backward.train
    # and forward.train (_inherit_training), each with its own section's keys over it
    backward: BackwardParams
    engine: EngineParams
    augment: AugmentParams
    forward: ForwardParams
    score: ScoreParams
    curate: CurateParams
    rewrite: RewriteParams
    evaluate: EvaluateParams
    judge: JudgeParams
    compare: CompareParams
    storage: StorageParams

    def __post_init__(self):
        wanted = [str(t) for t in range(1, len(self.iterations) + 1)]
        gaps = [t for t in wanted if t not in self.iterations]
        _require(not gaps, "iterations", f"must be numbered 1..{len(wanted)} so each one's "
                 f"model feeds the next; missing \"{gaps[0] if gaps else ''}\"")
        for t, previous in self.iterations.items():
            _require(t.isdigit() and int(t) >= 1, f"iterations.{t}", "must be a number >= 1")
            _require(previous == int(t) - 1, f"iterations.{t}",
                     f"iteration {t} must be rated by model {int(t) - 1}, got {previous}")
        mode = MODES[self.score.mode]
        if mode.scale is not None and self.curate.min_score is not None:
            _require(mode.accepts(self.curate.min_score), "curate.min_score",
                     f"must be between {mode.scale[0]:g} and {mode.scale[1]:g} with score.mode: "
                     f"{mode.name}")
        for name in self.hub:
            _require(re.fullmatch(r"[A-Za-z0-9_-]+", name), f"hub.{name}",
                     "name it with letters, digits, - and _ (it names a file and a stage)")
        expected = [0, *map(int, self.iterations)]
        _require(self.models == expected, "models",
                 f"must list model 0 and every iteration ({expected}), got {self.models}")


# Keys of older params files and where they live now. An old file fails with one line per key
# (`humpback check` lists them all) instead of a bare "unknown key".
MOVED = {
    "prompts.score": "score.prompt",
    "prompts.backward": "backward.prompt",
    "evaluate.labels": "compare.labels",
}


def moved_keys(raw) -> list[str]:
    """One line per key of an older params file that lives elsewhere now: 'old moved to new'."""
    if not isinstance(raw, dict):
        return []
    lines = []
    for old, new in MOVED.items():
        section, key = old.split(".")
        if isinstance(raw.get(section), dict) and key in raw[section]:
            lines.append(f"{old} moved to {new}")
    if "train" not in raw:
        shared = {f.name for f in dataclasses.fields(TrainParams)} - {"steps"}
        for name in TRAINED:
            section = raw.get(name)
            keys = [k for k in section if k in shared] if isinstance(section, dict) else []
            if keys:
                lines.append(f"{name}.{keys[0]} and the other shared training keys moved to "
                             f"train (keep in {name} only what differs, e.g. steps)")
    return lines


def load_params(path: str | Path = "params.yaml", stage: str | None = None) -> Params:
    """Read and validate the whole params.yaml. Told which stage runs (`score@1`, or `score`),
    return that stage's view: reading a key its `params:` in dvc.yaml (beside params.yaml) do
    not list raises, so a param the stage depends on can never be missing from dvc.yaml."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found (run from the project root)") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}".replace("\n", " ")) from None
    moved = moved_keys(raw)
    if moved:
        more = f" (and {len(moved) - 1} more: `humpback check` lists them)" if moved[1:] else ""
        raise ParamsError(f"{path}: {moved[0]}{more}")
    sources: dict[str, str] = {}
    try:
        raw, sources = _inherit_training(raw)
        params = _build(Params, raw, "")
        check_layout(params)
    except ParamsError as err:
        raise ParamsError(f"{path}: {_source_key(str(err), sources)}") from None
    if stage is None:
        return params
    declared = declared_params(stage, path.with_name("dvc.yaml"), path.name)
    return StageParams(params, stage, declared, sources=sources)


def _inherit_training(raw) -> tuple[dict, dict[str, str]]:
    """Fill each TRAINED section's `train` from the shared `train` section and the section's own
    training keys. Also returns where each filled key came from ("backward.train.steps" ->
    "backward.steps", "backward.train.method" -> "train.method"): errors and the stage guard
    name the key the user wrote."""
    if not isinstance(raw, dict):
        raise ParamsError("top level: expected a mapping")
    if "train" not in raw:
        raise ParamsError("missing key 'train'")
    shared = raw["train"]
    if not isinstance(shared, dict):
        raise ParamsError("train: expected a mapping")
    knobs = [f.name for f in dataclasses.fields(TrainParams)]
    unknown = sorted(set(shared) - set(knobs))
    if unknown:
        raise ParamsError(f"unknown key 'train.{unknown[0]}' (known: {', '.join(knobs)})")
    raw = {k: v for k, v in raw.items() if k != "train"}
    sources = {}
    for name in TRAINED:
        section = raw.get(name)
        if not isinstance(section, dict):
            continue  # _build names the missing or malformed section
        cls = typing.get_type_hints(Params)[name]
        own = [f.name for f in dataclasses.fields(cls) if f.name != "train"]
        unknown = sorted(set(section) - set(own) - set(knobs))
        if unknown:
            raise ParamsError(f"unknown key '{name}.{unknown[0]}' (known: "
                              f"{', '.join(own + knobs)})")
        raw[name] = {**{k: v for k, v in section.items() if k in own},
                     "train": {**shared, **{k: v for k, v in section.items() if k in knobs}}}
        sources.update({f"{name}.train.{k}": f"{name}.{k}" if k in section else f"train.{k}"
                        for k in knobs})
    return raw, sources


def _source_key(message: str, sources: dict[str, str]) -> str:
    """The message with a filled-in training key named as the user wrote it."""
    return re.sub(rf"\b({'|'.join(TRAINED)})\.train\.(\w+)",
                  lambda m: sources.get(m[0], f"{m[1]}.{m[2]}"), message)


def _build(cls, raw, prefix: str):
    if not isinstance(raw, dict):
        raise ParamsError(f"{prefix.rstrip('.') or 'top level'}: expected a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ParamsError(f"unknown key '{prefix}{unknown[0]}' (known: {', '.join(fields)})")
    missing = [name for name, f in fields.items() if name not in raw
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ParamsError(f"missing key '{prefix}{missing[0]}'")
    hints = typing.get_type_hints(cls)
    values = {name: _convert(raw[name], hints[name], f"{prefix}{name}") for name in fields
              if name in raw}
    try:
        return cls(**values)
    except ParamsError as err:  # raised by __post_init__ with the key relative to its section
        raise ParamsError(f"{prefix}{err}") from None


def _convert(value, hint, key: str):
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _convert(value, inner, key)
    if origin is Literal:
        if value not in args:
            raise ParamsError(f"{key}: expected one of {list(args)}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ParamsError(f"{key}: expected a list, got {value!r}")
        return [_convert(v, args[0], f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ParamsError(f"{key}: expected a mapping, got {value!r}")
        if args[0] is str and not all(isinstance(k, str) for k in value):
            raise ParamsError(f"{key}: quote the keys (\"1\": 0); DVC skips number keys")
        return {k: _convert(v, args[1], f"{key}.{k}") for k, v in value.items()}
    return _scalar(value, hint, key)


def _scalar(value, hint, key: str):
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):
        raise ParamsError(f"{key}: expected {hint.__name__}, got {value!r}")
    return value


def _require(condition, key: str, message: str) -> None:
    if not condition:
        raise ParamsError(f"{key}: {message}")
