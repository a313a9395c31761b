"""Supervised fine-tuning with the loss on output tokens only (the paper's recipe).

A short loop of our own rather than TRL's SFTTrainer: measured on the 2-core CPU with SmolLM2-135M,
computing logits only at target positions and sorting micro-batches by length made a step 2.4x
faster than SFTTrainer (7 s vs 17 s for 8 examples), which is what lets the default run fit in 15
minutes. LoRA by default; `method: full` trains every weight in fp32.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import torch
from tqdm import tqdm

from humpback.config import TrainParams
from humpback.models import load_for_training, load_tokenizer
from humpback.prompts import chat_example


@dataclass(frozen=True)
class Example:
    prompt_ids: list[int]
    target_ids: list[int]


def tokenize(tokenizer, pairs: Sequence[tuple[str, str]], max_length: int) -> list[Example]:
    """(user, assistant) pairs -> token ids cut at max_length; examples left without targets drop."""
    examples = []
    for user, assistant in pairs:
        prompt, completion = chat_example(tokenizer, user, assistant)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"][:max_length]
        target_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
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
) -> dict:
    """Fine-tune the base model on (user, assistant) pairs and save the adapter (or full model).
    With `checkpoint`, the state is saved there every `checkpoint_every` steps and a run killed
    part-way resumes from it, ending with the same bytes as a run never interrupted."""
    torch.manual_seed(seed)
    tokenizer = load_tokenizer(base_dir)
    examples = tokenize(tokenizer, pairs, params.max_length)
    if not examples:
        raise ValueError(f"{desc}: no training example has output tokens within max_length")
    model = _prepare(load_for_training(base_dir, params.method == "full"), params)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params.learning_rate,
                                  weight_decay=params.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(params, step))
    batches = _batch_order(len(examples), params, seed)
    losses: list[float] = []
    if checkpoint is not None and checkpoint.exists():
        losses = load_checkpoint(checkpoint, model, optimizer, schedule)
    resumed_at = len(losses)
    model.train()
    for step in tqdm(range(len(losses), params.steps), desc=desc, unit="step",
                     initial=len(losses), total=params.steps):
        batch = [examples[i] for i in batches[step]]
        loss = _step(model, batch, params.micro_batch_size, tokenizer.pad_token_id)
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss)
        if on_step:
            on_step(step, loss)
        done = step + 1
        if checkpoint is not None and params.checkpoint_every and done % params.checkpoint_every == 0 \
                and done < params.steps:
            save_checkpoint(checkpoint, model, optimizer, schedule, losses)
    _save(model, tokenizer, params, out_dir)
    if checkpoint is not None:
        checkpoint.unlink(missing_ok=True)
    return {
        "examples": len(examples),
        "dropped_examples": len(pairs) - len(examples),
        "target_tokens": sum(len(e.target_ids) for e in examples),
        "trainable_parameters": sum(p.numel() for p in trainable),
        "epochs": round(params.steps * params.batch_size / len(examples), 2),
        "first_loss": round(losses[0], 4),
        "final_loss": round(sum(losses[-5:]) / len(losses[-5:]), 4),
        "resumed_at_step": resumed_at,
        "losses": losses,
    }


def save_checkpoint(path: Path, model, optimizer, schedule, losses: list[float]) -> None:
    """Trainable weights, optimizer moments and the random state, as safetensors (no pickle);
    written to a temporary name and renamed, so a kill never leaves half a checkpoint."""
    from safetensors.torch import save_file

    tensors = {f"param.{name}": p.detach().clone().contiguous()
               for name, p in model.named_parameters() if p.requires_grad}
    state = optimizer.state_dict()
    for index, moments in state["state"].items():
        tensors.update({f"optimizer.{index}.{key}": value.contiguous()
                        for key, value in moments.items()})
    tensors["rng"] = torch.get_rng_state()
    meta = {"losses": losses, "param_groups": state["param_groups"],
            "schedule": schedule.state_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, tmp, metadata={"state": json.dumps(meta)})
    os.replace(tmp, path)


def load_checkpoint(path: Path, model, optimizer, schedule) -> list[float]:
    """Restore what `save_checkpoint` wrote; return the losses of the steps already done."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(path)
    with safe_open(path, "pt") as handle:
        meta = json.loads(handle.metadata()["state"])
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.requires_grad:
                p.copy_(tensors[f"param.{name}"])
    moments: dict[int, dict] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            moments.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": moments, "param_groups": meta["param_groups"]})
    schedule.load_state_dict(meta["schedule"])
    torch.set_rng_state(tensors["rng"])
    return meta["losses"]


def lr_factor(params: TrainParams, step: int) -> float:
    """Linear decay from the start rate to `final_lr_fraction` of it at the last step."""
    return 1 - (1 - params.final_lr_fraction) * step / max(params.steps - 1, 1)


def _prepare(model, params: TrainParams):
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


def _step(model, batch: list[Example], micro_batch_size: int, pad_id: int) -> float:
    """Accumulate gradients over length-sorted micro-batches; return the mean token loss."""
    batch = sorted(batch, key=lambda e: len(e.prompt_ids) + len(e.target_ids))
    total_targets = sum(len(e.target_ids) for e in batch)
    total_loss = 0.0
    for start in range(0, len(batch), micro_batch_size):
        loss = token_loss_sum(model, batch[start:start + micro_batch_size], pad_id)
        (loss / total_targets).backward()
        total_loss += loss.item()
    return total_loss / total_targets


def token_loss_sum(model, examples: list[Example], pad_id: int) -> torch.Tensor:
    """Summed cross-entropy over target tokens; logits are computed only where a target is."""
    width = max(len(e.prompt_ids) + len(e.target_ids) for e in examples)
    input_ids = torch.full((len(examples), width), pad_id)
    attention = torch.zeros((len(examples), width), dtype=torch.long)
    is_target = torch.zeros((len(examples), width), dtype=torch.bool)
    for row, e in enumerate(examples):
        ids = e.prompt_ids + e.target_ids
        input_ids[row, :len(ids)] = torch.tensor(ids)
        attention[row, :len(ids)] = 1
        is_target[row, len(e.prompt_ids):len(ids)] = True
    hidden = model.get_decoder()(input_ids=input_ids, attention_mask=attention).last_hidden_state
    predicts_target = is_target[:, 1:]  # the hidden state at i predicts the token at i + 1
    logits = model.get_output_embeddings()(hidden[:, :-1][predicts_target]).float()
    return torch.nn.functional.cross_entropy(logits, input_ids[:, 1:][predicts_target],
                                             reduction="sum")


def _save(model, tokenizer, params: TrainParams, out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir, safe_serialization=True)
    if params.method == "full":
        tokenizer.save_pretrained(out_dir)
