"""augment: the backward model writes one candidate instruction for every corpus segment."""

from humpback.augmentation import augment, looks_like_instruction
from humpback.config import load_params
from humpback.generation import hf_engine
from humpback.metrics import timed, write_metrics
from humpback.prompts import load_template
from humpback.records import read_jsonl, write_jsonl
from humpback.stage import run_stage


def main(base_dir: str, backward_dir: str, segments: str, candidates: str, metrics: str) -> None:
    params = load_params()
    template = load_template(params.prompts.backward, {"output"})
    records = list(read_jsonl(segments, required=["id", "text"]))
    stats: dict = {"segments": len(records)}
    with timed(stats):
        engine = hf_engine(base_dir, backward_dir, params.augment.batch_size)
        pairs = augment(engine, engine.tokenizer, template, records, params.augment,
                        params.random_seed)
    kept = [p for p in pairs if p["instruction"]]
    write_jsonl(candidates, kept)
    stats["candidates"] = len(kept)
    stats["empty_instructions"] = len(pairs) - len(kept)
    stats["instruction_like_rate"] = round(
        sum(looks_like_instruction(p["instruction"], p["output"]) for p in kept)
        / max(len(kept), 1), 4)
    write_metrics(metrics, stats)


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "backward_dir", "segments", "candidates", "metrics")
