"""rewrite@t: a model rewrites each pair curated in iteration t into an assistant's answer to
its instruction, from the original text alone (section `rewrite`; off by default); writes M_t's
training set: the seed pairs plus the kept rewrites (or, off, the curated pairs as they are)."""

from pathlib import Path

from humpback import rewriting
from humpback.cards import rewritten_card
from humpback.chunk_runner import ChunkRunner
from humpback.config import load_params
from humpback.curation import training_set
from humpback.engines import chosen_spec
from humpback.metrics import timed, write_metrics
from humpback.prompts import load_template
from humpback.records import read_jsonl, write_jsonl
from humpback.stage import run_stage


def main(base_dir: str, model_dir: str, curated: str, seed_train: str, rewritten: str,
         train_set: str, metrics: str, data_card: str) -> None:
    params = load_params(stage="rewrite")
    settings = params.rewrite
    pairs = list(read_jsonl(curated, required=["id", "instruction", "output"]))
    seed_pairs = list(read_jsonl(seed_train, required=["instruction", "output"]))
    iteration = Path(curated).stem
    if not settings.enabled:  # the paper: M_t trains on the curated pairs as they are
        write_jsonl(rewritten, [])
        write_jsonl(train_set, training_set(seed_pairs, pairs))
        write_metrics(metrics, {"enabled": False, "curated": len(pairs), "kept": len(pairs)})
        rewritten_card(iteration=iteration, settings=settings, records=[], summary=None,
                       data_file=Path(rewritten).name).save(data_card)
        return
    template = load_template(settings.prompt, {"instruction", "original"})
    spec = chosen_spec(settings, params.engine.backend, base_dir, model_dir, settings.batch_size,
                       params.base.dtype)
    runner = ChunkRunner(rewritten, spec, params.engine,
                         key=(template, settings, params.random_seed), desc="rewrite",
                         unit="answer")
    from humpback.models import load_tokenizer  # here: the stage that is off never loads torch

    tokenizer = load_tokenizer(base_dir)  # counts an endpoint's reply tokens
    stats: dict = {"enabled": True, "model": settings.model}
    replies = []
    with timed(stats):
        for _, done in runner.map(lambda engine, chunk, seed: rewriting.rewrite_chunk(
                engine, template, chunk, settings.max_new_tokens, settings.temperature, seed,
                engine.tokenizer or tokenizer), pairs, total=len(pairs),
                seed=params.random_seed):
            replies += done
    rare = rewriting.rare_words(p["output"] for p in pairs)
    records = []
    for pair, reply in zip(pairs, replies):
        record = {"id": pair["id"], "instruction": pair["instruction"], "original": pair["output"],
                  "rewrite": reply["rewrite"], "dropped": reply["dropped"], "score": pair["score"]}
        if reply["dropped"] is None:
            record.update(rewriting.measure(pair["output"], reply["rewrite"], rare))
        records.append(record)
    write_jsonl(rewritten, records)
    kept = [{"id": r["id"], "instruction": r["instruction"], "output": r["rewrite"],
             "original": r["original"], "score": r["score"]} for r in records if not r["dropped"]]
    write_jsonl(train_set, training_set(seed_pairs, kept))
    summary = rewriting.summary(records)
    rewritten_card(iteration=iteration, settings=settings, records=records, summary=summary,
                   data_file=Path(rewritten).name).save(data_card)
    write_metrics(metrics, {**stats, **summary, **runner.finish()})


if __name__ == "__main__":
    run_stage(main, __doc__, "base_dir", "model_dir", "curated", "seed_train", "rewritten",
              "train_set", "metrics", "data_card")
