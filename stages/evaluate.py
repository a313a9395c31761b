"""evaluate@t: M_t answers the held-out instructions, written in alpaca_eval's format, and the
reference answers' per-token NLL is measured under it (section `evaluate`)."""

from humpback.chunk_runner import ChunkRunner
from humpback.config import load_params
from humpback.engines import EngineSpec
from humpback.evaluation import (evaluate_chunk, generator_name, load_instructions, mean_length,
                                 mean_nll)
from humpback.metrics import timed, write_metrics
from humpback.records import write_json
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, answers: str, metrics: str) -> None:
    params = load_params(stage="evaluate")
    tag = params.prompts.seed_tag  # the paper prompts every model with the seed tag at inference
    records = load_instructions(params.evaluate)
    stats: dict = {"instructions": len(records)}
    generator = generator_name(model_dir)
    max_new_tokens, nll_max_length = params.evaluate.max_new_tokens, params.evaluate.nll_max_length
    runner = ChunkRunner(answers, EngineSpec(params.engine.backend, base_dir, model_dir,
                                             batch_size=params.evaluate.batch_size,
                                             dtype=params.base.dtype),
                         params.engine, key=(tag, params.evaluate), desc="evaluate",
                         unit="instruction")
    results = []
    with timed(stats):
        for _, done in runner.map(lambda engine, chunk, seed: evaluate_chunk(
                engine, chunk, tag, generator, max_new_tokens, nll_max_length),
                records, total=len(records)):
            results += done
    if any(r["reference"] for r in records):
        stats.update(mean_nll((r["nll_sum"], r["nll_tokens"]) for r in results))
    outputs = [r["answer"] for r in results]
    stats["mean_length"] = mean_length(o["output"] for o in outputs)
    write_json(answers, outputs)
    write_metrics(metrics, {**stats, **runner.finish()})


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "answers", "metrics")
