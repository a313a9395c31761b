"""Supervised fine-tuning with the loss on output tokens only (the paper's recipe), in one process
or many (Accelerate: DDP or FSDP over GPUs, gloo over CPU processes), on a CPU or a GPU.

A short loop of our own rather than TRL's SFTTrainer (logits only at target positions, micro-batches
sorted by length): measured side by side on the 2-core CPU (`benchmarks/results-training-cpu.md`) it
is 1.7x faster per step than SFTTrainer as TRL configures it (gradient checkpointing) and level
with SFTTrainer without checkpointing, and it keeps the default run's bytes. LoRA by default;
`method: full` trains every weight in fp32.

The maths do not depend on the number of processes: `batch_size` is the global batch, cut into the
same length-sorted micro-batches one process would use and dealt out to the processes, and every
micro-batch's summed loss is divided by the target tokens of the whole global batch, which every
process knows (the batch order comes from the seed). Only the main process writes files.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm import tqdm

from humpback.config import ParamsError, TrainParams
from humpback.models import load_for_training, load_tokenizer, saved_dtype
from humpback.prompts import chat_example, encode
from humpback.resume import load_checkpoint, save_checkpoint


@dataclass(frozen=True)
class Example:
    prompt_ids: list[int]
    target_ids: list[int]


def tokenize(tokenizer, pairs: Sequence[tuple[str, str]], max_length: int) -> list[Example]:
    """(user, assistant) pairs -> token ids cut at max_length; examples left without targets drop."""
    examples = []
    for user, assistant in pairs:
        prompt_ids, target_ids = encode(tokenizer, chat_example(tokenizer, user, assistant))
        prompt_ids = prompt_ids[:max_length]
        target_ids = target_ids[: max_length - len(prompt_ids)]
        if target_ids:
            examples.append(Example(prompt_ids, target_ids))
    return examples


def train(
    base_dir: str | Path,
    pairs: Sequence[tuple[str, str]],
    params: TrainParams,
    seed: int,
    out_dir: str | Path,
    desc: str = "train",
    on_step: Callable[[int, float], None] | None = None,
    checkpoint: Path | None = None,
    dtype: str = "auto",
) -> dict:
    """Fine-tune the base model on (user, assistant) pairs and save the adapter (or full model).
    With `checkpoint`, the state is saved there every `checkpoint_every` steps and a run killed
    part-way resumes from it, ending with the same bytes as a run never interrupted. `desc` names
    the params section (backward, forward) in errors. Every process of a launch calls this; only
    the main one writes. `dtype` (base.dtype) is the precision the frozen LoRA base is held in
    and a full fine-tune is saved in (fp32 master weights while it trains)."""
    torch.manual_seed(seed)
    accelerator, setup = make_accelerator(params, desc)
    tokenizer = load_tokenizer(base_dir)
    examples = tokenize(tokenizer, pairs, params.max_length)
    if not examples:
        raise ValueError(f"{desc}: no training example has output tokens within max_length")
    model = _prepare(load_for_training(base_dir, params.method == "full", dtype,
                                       setup["device"]), params)
    trainable = [p for p in model.parameters() if p.requires_grad]
    trainable_parameters = sum(p.numel() for p in trainable)
    optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate,
                                  weight_decay=params.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(params, step))
    # Not the schedule: Accelerate would step a prepared one once per process.
    loss_model, optimizer = accelerator.prepare(TargetLoss(model), optimizer)
    processes, rank = accelerator.num_processes, accelerator.process_index
    if processes > 1:  # each process draws its own dropout masks, reproducibly
        torch.manual_seed(seed * 1_000_003 + rank + 1)
    batches = _batch_order(len(examples), params, seed)
    losses: list[float] = []
    resumable = {**setup, "dtype": dtype}  # a checkpoint of another precision is not resumed
    if checkpoint is not None and checkpoint.exists():
        losses = load_checkpoint(checkpoint, accelerator, loss_model, optimizer, schedule,
                                 resumable)
    resumed_at = len(losses)
    loss_model.train()
    for step in tqdm(range(len(losses), params.steps), desc=desc, unit="step", initial=len(losses),
                     total=params.steps, disable=not accelerator.is_main_process):
        batch = [examples[i] for i in batches[step]]
        micro_batches = process_share(batch, params.micro_batch_size, processes, rank)
        loss = _step(accelerator, loss_model, micro_batches,
                     sum(len(e.target_ids) for e in batch), tokenizer.pad_token_id)
        accelerator.clip_grad_norm_(loss_model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss)
        if on_step:
            on_step(step, loss)
        done = step + 1
        if checkpoint is not None and params.checkpoint_every and done % params.checkpoint_every == 0 \
                and done < params.steps:
            save_checkpoint(checkpoint, accelerator, loss_model, optimizer, schedule, losses,
                            resumable)
    _save(accelerator, loss_model, tokenizer, params, out_dir, saved_dtype(base_dir))
    if checkpoint is not None and accelerator.is_main_process:
        checkpoint.unlink(missing_ok=True)
    return {
        "examples": len(examples),
        "dropped_examples": len(pairs) - len(examples),
        "target_tokens": sum(len(e.target_ids) for e in examples),
        "trainable_parameters": trainable_parameters,
        "epochs": round(params.steps * params.batch_size / len(examples), 2),
        "first_loss": round(losses[0], 4),
        "final_loss": round(sum(losses[-5:]) / len(losses[-5:]), 4),
        "resumed_at_step": resumed_at,
        **setup,
        "losses": losses,
    }


def make_accelerator(params: TrainParams, section: str):
    """The Accelerator for the device and precision params ask for (auto: the GPU when one is
    visible, bf16 where it has it), and what was chosen, for the metrics and the model card."""
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    device, precision = device_and_precision(params, section)
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        AcceleratorState._reset_state(reset_partial_state=True)  # one process may train twice
    accelerator = Accelerator(cpu=device == "cpu", mixed_precision=precision)
    _fp32_fsdp_outputs(accelerator)
    return accelerator, {"device": device, "mixed_precision": precision,
                         "processes": accelerator.num_processes}


def _fp32_fsdp_outputs(accelerator) -> None:
    """Accelerate's FSDP2 mixed precision casts the root module's output, the loss, to bf16
    (3 significant digits in the metrics) and reduces gradients in bf16: both stay fp32 here,
    with the weights gathered and computed in bf16 (param_dtype)."""
    from accelerate.utils import DistributedType

    plugin = getattr(accelerator.state, "fsdp_plugin", None)
    if accelerator.distributed_type != DistributedType.FSDP or plugin is None:
        return
    policy = plugin.mixed_precision_policy
    if policy is not None and getattr(policy, "output_dtype", None) is not None:
        from torch.distributed.fsdp import MixedPrecisionPolicy

        plugin.mixed_precision_policy = MixedPrecisionPolicy(
            param_dtype=policy.param_dtype, reduce_dtype=torch.float32,
            output_dtype=torch.float32)


def device_and_precision(params: TrainParams, section: str) -> tuple[str, str]:
    """(device, mixed precision) from the params' `auto`s; a one-line error for a choice this
    machine cannot honour."""
    cuda = torch.cuda.is_available()
    device = params.device if params.device != "auto" else ("cuda" if cuda else "cpu")
    if device == "cuda" and not cuda:
        raise ParamsError(f"{section}.device: cuda, but torch sees no CUDA GPU here (torch "
                          f"{torch.__version__}); use auto or cpu")
    precision = params.mixed_precision
    if precision == "auto":
        precision = "bf16" if device == "cuda" and torch.cuda.is_bf16_supported() else "no"
    if precision == "fp16" and device != "cuda":
        raise ParamsError(f"{section}.mixed_precision: fp16 needs a CUDA GPU and this run is on "
                          "the CPU; use bf16 or no")
    if precision == "bf16" and device == "cuda" and not torch.cuda.is_bf16_supported():
        raise ParamsError(f"{section}.mixed_precision: this GPU has no bf16 (it came with "
                          "Ampere); use fp16")
    return device, precision


def lr_factor(params: TrainParams, step: int) -> float:
    """Linear decay from the start rate to `final_lr_fraction` of it at the last step."""
    return 1 - (1 - params.final_lr_fraction) * step / max(params.steps - 1, 1)


def _prepare(model, params: TrainParams):
    if params.gradient_checkpointing:
        # non-reentrant: gradients reach the LoRA weights though the frozen inputs need none
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if params.method == "full":
        model.config.attention_dropout = params.dropout
        return model
    from peft import LoraConfig, get_peft_model

    targets = params.lora_target_modules
    layers = None
    if params.lora_top_layers is not None:
        total = model.config.num_hidden_layers
        layers = list(range(max(total - params.lora_top_layers, 0), total))
        if targets == ["all-linear"]:  # PEFT takes a layer list only with named modules
            targets = _linear_module_names(model)
    config = LoraConfig(
        r=params.lora_r, lora_alpha=params.lora_alpha, lora_dropout=params.dropout,
        target_modules=targets[0] if targets == ["all-linear"] else targets,
        layers_to_transform=layers, task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def _linear_module_names(model) -> list[str]:
    """Names of the linear layers inside the decoder blocks (what PEFT's all-linear picks)."""
    names = {name.rsplit(".", 1)[-1] for name, module in model.get_decoder().layers.named_modules()
             if isinstance(module, torch.nn.Linear)}
    return sorted(names)


def _batch_order(n: int, params: TrainParams, seed: int) -> list[list[int]]:
    """Example indices for every step: reshuffled each epoch, reproducible from the seed."""
    generator = torch.Generator().manual_seed(seed)
    needed = params.steps * params.batch_size
    order = []
    for _ in range(math.ceil(needed / n)):
        order += torch.randperm(n, generator=generator).tolist()
    return [order[s * params.batch_size:(s + 1) * params.batch_size] for s in range(params.steps)]


def process_share(batch: list[Example], micro_batch_size: int, processes: int,
                  rank: int) -> list[list[Example]]:
    """This process's micro-batches of a global batch: the batch sorted by length (less padding)
    and cut into micro-batches as one process would cut it (at most batch / processes examples
    each), dealt round-robin so that every process gets long and short ones."""
    batch = sorted(batch, key=lambda e: len(e.prompt_ids) + len(e.target_ids))
    size = min(micro_batch_size, len(batch) // processes)
    micro_batches = [batch[start:start + size] for start in range(0, len(batch), size)]
    return micro_batches[rank::processes]


def _step(accelerator, loss_model, micro_batches: list[list[Example]], total_targets: int,
          pad_id: int) -> float:
    """Accumulate gradients over this process's micro-batches; return the global batch's mean
    token loss. Each micro-batch's summed loss is divided by the global batch's target tokens and
    multiplied by the number of processes, which DDP and FSDP divide the summed gradients by."""
    processes = accelerator.num_processes
    local_loss = 0.0
    for index, micro_batch in enumerate(micro_batches):
        last = index == len(micro_batches) - 1  # gradients are exchanged once, after the last
        with contextlib.nullcontext() if last else accelerator.no_sync(loss_model):
            loss = loss_model(*pad(micro_batch, pad_id, accelerator.device)).float()
            accelerator.backward(loss / total_targets * processes)
        local_loss += loss.item()  # summed in Python floats (fp64), reduced in fp64
    if processes > 1:
        local_loss = accelerator.reduce(
            torch.tensor(local_loss, dtype=torch.float64, device=accelerator.device), "sum").item()
    return local_loss / total_targets


class TargetLoss(torch.nn.Module):
    """The model and its loss as one module, so that DDP and FSDP wrap this and its forward is
    the one called: they sync gradients and gather weights in hooks around it."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        # FSDP shards the decoder layers named here (Accelerate reads it from the top module)
        self._no_split_modules = getattr(model, "_no_split_modules", None)

    def forward(self, input_ids, attention, is_target) -> torch.Tensor:
        return target_loss_sum(self.model, input_ids, attention, is_target)


def pad(examples: list[Example], pad_id: int, device=None) -> tuple[torch.Tensor, ...]:
    """Right-padded token ids, attention mask and target mask of a micro-batch."""
    width = max(len(e.prompt_ids) + len(e.target_ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    is_target = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, e in enumerate(examples):
        ids = e.prompt_ids + e.target_ids
        input_ids[row, :len(ids)] = torch.tensor(ids)
        attention[row, :len(ids)] = 1
        is_target[row, len(e.prompt_ids):len(ids)] = True
    return input_ids.to(device), attention.to(device), is_target.to(device)


def target_loss_sum(model, input_ids, attention, is_target) -> torch.Tensor:
    """Summed cross-entropy over target tokens; logits are computed only where a target is."""
    hidden = model.get_decoder()(input_ids=input_ids, attention_mask=attention).last_hidden_state
    predicts_target = is_target[:, 1:]  # the hidden state at i predicts the token at i + 1
    logits = model.get_output_embeddings()(hidden[:, :-1][predicts_target]).float()
    return torch.nn.functional.cross_entropy(logits, input_ids[:, 1:][predicts_target],
                                             reduction="sum")


def _save(accelerator, loss_model, tokenizer, params: TrainParams, out_dir: str | Path,
          dtype: torch.dtype) -> None:
    """The main process writes the adapter (or full model, in `dtype`: the base's stored dtype,
    so a bf16 base gives a bf16 fine-tune, not twice its size in fp32); FSDP's shards are
    gathered first."""
    from accelerate.utils import DistributedType

    model = accelerator.unwrap_model(loss_model).model
    state = None
    if accelerator.distributed_type == DistributedType.FSDP:  # every process takes part
        state = {key.removeprefix("model."): value
                 for key, value in accelerator.get_state_dict(loss_model).items()}
    if not accelerator.is_main_process:
        return
    for config in getattr(model, "peft_config", {}).values():
        # PEFT keeps target_modules as a set and writes it in hash order, which changes from one
        # process to the next: sorted, the same run writes the same adapter_config.json.
        if isinstance(config.target_modules, set):
            config.target_modules = sorted(config.target_modules)
    out_dir = Path(out_dir)
    if params.method == "full" and dtype != torch.float32:
        if state is None:
            state = model.state_dict()
        state = {key: value.to(dtype) if value.is_floating_point() else value
                 for key, value in state.items()}
        model.config.dtype = dtype
    model.save_pretrained(out_dir, safe_serialization=True, state_dict=state)
    if params.method == "full":
        tokenizer.save_pretrained(out_dir)
