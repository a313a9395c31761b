"""augment: the backward model writes one candidate instruction for every corpus segment."""

from pathlib import Path

from tqdm import tqdm

from humpback.augmentation import augment, looks_like_instruction
from humpback.config import load_params
from humpback.generation import load_engine
from humpback.metrics import timed, write_metrics
from humpback.prompts import load_template
from humpback.records import JsonlWriter, check_jsonl, chunks, read_jsonl
from humpback.resume import ShardStore, fingerprint, lazy
from humpback.stage import run_stage


def main(base_dir: str, backward_dir: str, segments: str, candidates: str, metrics: str) -> None:
    params = load_params(stage="augment")
    template = load_template(params.prompts.backward, {"output"})
    stats = {"segments": check_jsonl(segments, ["id", "text"]), "empty_instructions": 0, "instruction_like": 0}
    shards = ShardStore(candidates, fingerprint(template, params.augment, params.engine,
                                                params.random_seed, Path(base_dir),
                                                Path(backward_dir)))
    engine = lazy(lambda: load_engine(params.engine, base_dir, backward_dir,
                                      params.augment.batch_size))
    with timed(stats), JsonlWriter(candidates) as out:
        bar = tqdm(total=stats["segments"], desc="augment", unit="segment")
        records = read_jsonl(segments, required=["id", "text"])
        for number, chunk in enumerate(chunks(records, params.engine.chunk_size)):
            pairs = shards.get_or_make(number, chunk, lambda: augment(
                engine(), template, chunk, params.augment, seed=params.random_seed + 10_000 * number))
            kept = [p for p in pairs if p["instruction"]]  # written to disk chunk by chunk
            out.write(kept)
            stats["empty_instructions"] += len(pairs) - len(kept)
            stats["instruction_like"] += sum(
                looks_like_instruction(p["instruction"], p["output"]) for p in kept)
            bar.update(len(chunk))
        bar.close()
    shards.clear()
    stats.update(shards.stats(), candidates=out.count)
    stats["instruction_like_rate"] = round(stats.pop("instruction_like") / max(out.count, 1), 4)
    stats["backend"] = params.engine.backend
    write_metrics(metrics, stats)


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "backward_dir", "segments", "candidates", "metrics")
