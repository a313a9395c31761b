"""augment: the backward model writes one candidate instruction for every corpus segment."""

from humpback.augmentation import augment, looks_like_instruction
from humpback.chunk_runner import ChunkRunner
from humpback.config import load_params
from humpback.engines import EngineSpec
from humpback.metrics import timed, write_metrics
from humpback.prompts import load_template
from humpback.records import JsonlWriter, check_jsonl, read_jsonl
from humpback.stage import run_stage


def main(base_dir: str, backward_dir: str, segments: str, candidates: str, metrics: str) -> None:
    params = load_params(stage="augment")
    template = load_template(params.backward.prompt, {"output"})
    sampling = params.augment
    stats = {"segments": check_jsonl(segments, ["id", "text"]), "empty_instructions": 0, "instruction_like": 0}
    runner = ChunkRunner(candidates, EngineSpec(params.engine.backend, base_dir, backward_dir,
                                                batch_size=sampling.batch_size,
                                                dtype=params.base.dtype),
                         params.engine, key=(template, sampling, params.random_seed),
                         desc="augment", unit="segment")
    with timed(stats), JsonlWriter(candidates) as out:
        for _, pairs in runner.map(lambda engine, chunk, seed: augment(
                engine, template, chunk, sampling, seed),
                read_jsonl(segments, required=["id", "text"]), total=stats["segments"],
                seed=params.random_seed):
            kept = [p for p in pairs if p["instruction"]]  # written to disk chunk by chunk
            out.write(kept)
            stats["empty_instructions"] += len(pairs) - len(kept)
            stats["instruction_like"] += sum(
                looks_like_instruction(p["instruction"], p["output"]) for p in kept)
    stats.update(runner.finish(), candidates=out.count)
    stats["instruction_like_rate"] = round(stats.pop("instruction_like") / max(out.count, 1), 4)
    write_metrics(metrics, stats)


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "backward_dir", "segments", "candidates", "metrics")
