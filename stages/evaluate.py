"""evaluate@t: M_t answers the held-out instructions, written in alpaca_eval's format, and the
reference answers' per-token NLL is measured under it (section `evaluate`)."""

from pathlib import Path

from tqdm import tqdm

from humpback.config import load_params
from humpback.evaluation import answer, generator_name, load_instructions, mean_length, reference_nll
from humpback.generation import load_engine
from humpback.metrics import timed, write_metrics
from humpback.models import load_for_inference, load_tokenizer
from humpback.prompts import with_tag
from humpback.records import chunks, write_json
from humpback.resume import ShardStore, fingerprint, lazy
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, answers: str, metrics: str) -> None:
    params = load_params(stage="evaluate")
    tag = params.prompts.seed_tag  # the paper prompts every model with the seed tag at inference
    records = load_instructions(params.evaluate)
    stats: dict = {"instructions": len(records), "backend": params.engine.backend}
    with timed(stats):
        engine = lazy(lambda: load_engine(params.engine, base_dir, model_dir,
                                          params.evaluate.batch_size))
        references = [(with_tag(r["instruction"], tag), r["reference"]) for r in records
                      if r["reference"]]
        if references:  # the HF engine's model is the one to measure; vLLM's is not a torch module
            model = (engine().model if params.engine.backend == "hf"
                     else load_for_inference(base_dir, model_dir))
            stats.update(reference_nll(model, load_tokenizer(base_dir), references,
                                       params.evaluate.nll_max_length, params.evaluate.batch_size))
        shards = ShardStore(answers, fingerprint(tag, params.evaluate, params.engine,
                                                 Path(base_dir), Path(model_dir)))
        outputs = []
        for number, chunk in enumerate(tqdm(list(chunks(records, params.engine.chunk_size)),
                                            desc="evaluate", unit="chunk")):
            outputs += shards.get_or_make(number, chunk, lambda: answer(
                engine(), [r["instruction"] for r in chunk], tag, generator_name(model_dir),
                params.evaluate.max_new_tokens))
    stats.update(shards.stats())
    stats["mean_length"] = mean_length(o["output"] for o in outputs)
    write_json(answers, outputs)
    shards.clear()
    write_metrics(metrics, stats)


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "answers", "metrics")
