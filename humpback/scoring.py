"""Self-curation: the current model scores each candidate (instruction, output).

One score function per mode of `score.mode`, registered under the mode's name; what else a mode
changes (its scale, histogram bars, card wording) is its entry in scoring_modes.py.

`likelihood` asks how much the instruction raises the model's log-likelihood of the output: the
mean per-token log-probability of the output after the instruction, minus that of the output
after an empty user turn (nats per token; IFD = exp(-score), Li et al. 2023 and 2024,
"Superfiltering"). It needs no rubric and no parsing, and a small model's ranking agrees with a
large one's. The rubric modes rate on the paper's 5-point scale, in two ways. `generate` is the
paper's: a brief reasoning, then a last line `Score: n`, parsed leniently. `logprob` reads the
model's next-token probabilities of 1-5 after a prompt ending in `Score:` (one forward pass, no
parsing): a 135M model rarely writes a parseable rating but puts most of its probability on the
digits, so the expected score is usable where the text is not.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Callable, Sequence

from humpback.config import ScoreParams
from humpback.engines import Engine, Sampling
from humpback.prompts import chat_example, chat_prompt, render
from humpback.records import significant
from humpback.scoring_modes import MODES, scoring_mode

RATINGS = (1, 2, 3, 4, 5)
# "Score: 4", "**Score:** 4", "Score = 4/5", "score: 4 out of 5", "Score: [4]", "Rating: 4".
_SCORE = re.compile(
    r"(?:score|rating)\s*\**\s*[:=]?\s*\**\s*\[?\s*(\d+(?:\.\d+)?)\s*\]?\s*(?:/\s*5|out of 5)?",
    re.IGNORECASE,
)


def parse_score(text: str, candidate: str = "") -> float | None:
    """The last rating the model wrote, or None if there is none or it is outside 1-5."""
    value = last_rating(text, candidate)
    return value if value is not None and 1 <= value <= 5 else None


def last_rating(text: str, candidate: str = "") -> float | None:
    """The number of the last rating in `text` not copied from `candidate`, in range or not.

    A small model often echoes the text it rates, and a segment may hold its own `Score: 5`. A
    rating counts only if it is not part of a verbatim copy: its line, joined to the non-blank
    line before or after it in the reply, must not appear in the candidate (whitespace collapsed,
    blank lines dropped; a substring, since a copy may start or end mid-line). Any echo of two or
    more lines is thus ignored, while the model's own `Score: k` after its own reasoning counts
    even when the candidate holds the same line. A lone copied line cannot be told from a rating
    and counts, but the last rating wins. Where a rating directly follows an echoed line that
    precedes the same line in the candidate, the reply is indistinguishable from a longer echo
    and the rating is ignored: an unrated candidate is never kept, an injected rating could be.
    """
    lines = [_norm(line) for line in text.splitlines()]
    quoted = "\n".join(line for line in map(_norm, candidate.splitlines()) if line)
    value = None
    for i, line in enumerate(lines):
        if not line or not _SCORE.search(line):
            continue
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j]), None)
        after = next((lines[j] for j in range(i + 1, len(lines)) if lines[j]), None)
        if any(f"{x}\n{y}" in quoted for x, y in ((before, line), (line, after)) if x and y):
            continue
        value = float(_SCORE.findall(line)[-1])
    return value


def _norm(line: str) -> str:
    return " ".join(line.split())


def rating_prompt(template: str, tokenizer, instruction: str, output: str, mode: str,
                  max_output_chars: int) -> str:
    """The rubric comes first and is identical in every prompt, so engines can reuse its cache."""
    user = render(template, instruction=instruction, output=output[:max_output_chars])
    prefix = score_prefix(tokenizer) if scoring_mode(mode).reply_prefix else ""
    return chat_prompt(tokenizer, user, assistant_prefix=prefix)


def score_prefix(tokenizer) -> str:
    """The start of the reply in logprob mode, chosen so that the next token is the digit itself:
    tokenizers such as SmolLM2's write the space before a digit as a token of its own, and would
    otherwise put nearly all the probability on that space."""
    space_split = len(tokenizer.encode(" 4", add_special_tokens=False)) > 1
    return "Score: " if space_split else "Score:"


def digit_token_ids(tokenizer) -> list[list[int]]:
    """For each rating 1-5, the single tokens that spell it, with or without a leading space."""
    groups = []
    for rating in RATINGS:
        ids = {tokenizer.encode(text, add_special_tokens=False)[-1]
               for text in (str(rating), f" {rating}")}
        groups.append(sorted(ids))
    return groups


def expected_rating(probs: Sequence[float]) -> tuple[float, int]:
    """(expected rating under the renormalised probabilities of 1-5, the most likely rating)."""
    mass = sum(probs) or 1.0
    expected = sum(r * p for r, p in zip(RATINGS, probs)) / mass
    best = max(RATINGS, key=lambda r: (probs[r - 1], -r))
    return round(expected, 4), best


# A mode's score function: (engine, rubric template, candidates, params, seed, swapped) -> one
# score record per candidate, in order. `swapped`: the rater check's pairs (rater_check.py).
Scorer = Callable[[Engine, str, list, ScoreParams, int, bool], list]
SCORERS: dict[str, Scorer] = {}


def scorer(mode: str) -> Callable[[Scorer], Scorer]:
    """Register the score function of `mode`, a name in scoring_modes.MODES."""
    def register(function: Scorer) -> Scorer:
        if mode not in MODES:
            raise ValueError(f"scorer {function.__name__}: {mode!r} is not in scoring_modes.MODES")
        SCORERS[mode] = function
        return function
    return register


def score_candidates(engine: Engine, template: str, candidates: list[dict],
                     params: ScoreParams, seed: int, swapped: bool = False) -> list[dict]:
    """One score record per candidate, in candidate order, by the function of `params.mode`."""
    return SCORERS[params.mode](engine, template, candidates, params, seed, swapped)


@scorer("likelihood")
def _likelihood(engine, template, candidates, params, seed, swapped):
    # a swapped pair needs only its log-likelihood given the instruction: the score is completed
    # from the genuine pass (swapped_score)
    return likelihood_scores(engine, candidates, params.max_segment_chars, alone=not swapped)


@scorer("logprob")
def _logprob(engine, template, candidates, params, seed, swapped):
    tokenizer = engine.tokenizer
    prompts = [rating_prompt(template, tokenizer, c["instruction"], c["output"], params.mode,
                             params.max_segment_chars) for c in candidates]
    records = []
    for c, probs in zip(candidates, engine.next_token_probs(prompts, digit_token_ids(tokenizer))):
        expected, best = expected_rating(probs)
        records.append({"id": c["id"], "score": expected, "most_likely": best,
                        "probs": [significant(p) for p in probs],
                        "digit_mass": round(sum(probs), 4)})
    return records


@scorer("generate")
def _generate(engine, template, candidates, params, seed, swapped):
    prompts = [rating_prompt(template, engine.tokenizer, c["instruction"], c["output"],
                             params.mode, params.max_segment_chars) for c in candidates]
    samples = [engine.generate(prompts, Sampling(params.max_new_tokens, params.temperature,
                                                 seed=seed + k * 7919))
               for k in range(params.samples)]
    in_scale = scoring_mode(params.mode).accepts
    records = []
    for i, c in enumerate(candidates):
        texts = [sample[i] for sample in samples]
        # the rating model's reply is untrusted: an echo of the candidate's own text never counts
        raw = [last_rating(text, f"{c['instruction']}\n{c['output']}") for text in texts]
        ratings = [r if r is not None and in_scale(r) else None for r in raw]
        parsed = [r for r in ratings if r is not None]
        records.append({"id": c["id"], "ratings": ratings, "rating_texts": texts,
                        "out_of_range": sum(r is not None and not in_scale(r) for r in raw),
                        "score": round(sum(parsed) / len(parsed), 4) if parsed else None})
    return records


_unscored = set(MODES) - set(SCORERS)
if _unscored:  # a mode added to the table without its function fails on import, not mid-run
    raise ImportError(f"scoring.py: no score function for the mode(s) {sorted(_unscored)}")


def likelihood_scores(engine: Engine, candidates: list[dict], max_chars: int,
                      alone: bool = True) -> list[dict]:
    """How much each candidate's instruction raises the log-likelihood of its output: the mean
    log-probability per output token given the instruction, minus the same without it (the
    chat template around an empty user turn). Positive: the instruction makes the output more
    likely, as a genuine instruction does; IFD, the perplexity ratio, is exp(-score).
    `alone=False`: the first term only (score None), half the work."""
    pairs = []
    for c in candidates:
        output = c["output"][:max_chars]
        pairs.append(chat_example(engine.tokenizer, c["instruction"], output))
        if alone:
            pairs.append(chat_example(engine.tokenizer, "", output))
    logprobs = engine.token_logprobs(pairs)
    step = 2 if alone else 1
    records = []
    for n, c in enumerate(candidates):
        given = logprobs[step * n]
        record = {"id": c["id"], "score": None, "output_tokens": len(given)}
        if given:
            record["logprob_given_instruction"] = round(sum(given) / len(given), 4)
        if alone and given and logprobs[2 * n + 1]:
            without = round(sum(logprobs[2 * n + 1]) / len(logprobs[2 * n + 1]), 4)
            gain = likelihood_gain(record["logprob_given_instruction"], without)
            record.update(score=gain, logprob_alone=without, ifd=round(math.exp(-gain), 4))
        records.append(record)
    return records


def likelihood_gain(given_instruction: float, alone: float) -> float:
    """The likelihood score from its two (rounded) terms: the same sum wherever it is made."""
    return round(given_instruction - alone, 4)


def swapped_score(record: dict, own: dict | None) -> float | None:
    """A swapped pair's score (rater_check.py). In likelihood mode the pair was scored given its
    instruction only: its output's own log-likelihood is that of the output's genuine candidate
    (`own`, that candidate's score record, if it was scored), so it is not computed twice."""
    score = record["score"]
    if score is None and "logprob_given_instruction" in record and own is not None \
            and own.get("logprob_alone") is not None:
        score = likelihood_gain(record["logprob_given_instruction"], own["logprob_alone"])
    return score


class Summary:
    """Running metrics over score records (count, parse rate, mean, histogram of rounded
    scores; in generate mode the ratings with no score and with one outside 1-5), kept as counts
    so memory stays flat however many candidates stream past."""

    def __init__(self, mode: str):
        self.mode = scoring_mode(mode)
        self.candidates = self.parsed = self.unparseable = self.out_of_range = 0
        self.total = self.digit_mass = 0.0
        self.scores: Counter = Counter()  # score -> count: memory grows with distinct scores only

    def add(self, records: list[dict]) -> None:
        for record in records:
            self.candidates += 1
            self.digit_mass += record.get("digit_mass", 0.0)
            out_of_range = record.get("out_of_range", 0)
            self.out_of_range += out_of_range
            self.unparseable += sum(r is None for r in record.get("ratings", [])) - out_of_range
            if record["score"] is not None:
                self.parsed += 1
                self.total += record["score"]
                self.scores[record["score"]] += 1

    def metrics(self) -> dict:
        metrics = {
            "candidates": self.candidates,
            "parsed": self.parsed,
            "parse_rate": round(self.parsed / self.candidates, 4) if self.candidates else 0.0,
            "mean_score": round(self.total / self.parsed, 4) if self.parsed else None,
            "histogram": {str(bar): n for bar, n in self._histogram().items()},
            "ratings_unparseable": self.unparseable,
            "ratings_out_of_range": self.out_of_range,
        }
        if self.digit_mass:
            metrics["mean_digit_mass"] = round(self.digit_mass / self.candidates, 4)
        return metrics

    def table(self) -> list[dict]:
        """The histogram as rows for `dvc plots show`."""
        return [{"score": bar, "count": n} for bar, n in self._histogram().items()]

    def _histogram(self) -> dict:
        return self.mode.histogram(self.scores.elements())
