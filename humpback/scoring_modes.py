"""The scoring modes (`score.mode`), one entry each: everything a mode changes outside its score
function is declared here, and every other module asks this table.

Each mode's score function lives in scoring.py, registered under the mode's name
(`@scoring.scorer("name")`). To add a mode: one entry in `MODES` and its function (see
docs/development.md, "Adding a scoring mode"). This module imports nothing of the package, so
the params loader can check `score.mode` against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Literal


@dataclass(frozen=True)
class ScoringMode:
    name: str
    scale: tuple[float, float] | None  # (lowest, highest) score; None: any finite number
    units: str  # what a score is counted in
    # the width of a histogram bar in `units`, bars from the lowest score to the highest; None:
    # one bar per point of the scale, each score rounded to it
    bar: float | None
    card: str  # how a curated set's data card says what a score is
    samples: bool  # rates by sampled text: `score.samples` > 1 ratings can be averaged
    # the rating prompt ends in the reply's `Score:`, so the next token is the rating itself
    reply_prefix: bool = False

    def accepts(self, score: float) -> bool:
        """A score this mode can give (NaN never)."""
        if self.scale is None:
            return math.isfinite(score)
        low, high = self.scale
        return low <= score <= high

    @property
    def scale_text(self) -> str:
        """The scores this mode gives, as an error message says it."""
        if self.scale is None:
            return "a finite number"
        return f"a number from {self.scale[0]:g} to {self.scale[1]:g}"

    @property
    def histogram_text(self) -> str:
        """The histogram's bars, as a data card says it."""
        return f"bars of {self.bar} {self.units}" if self.bar else "rounded ratings"

    def histogram(self, scores: Iterable[float | None]) -> dict:
        """Counts of scores (None skipped) by bar, every bar from the first to the last listed."""
        counts: dict = {}
        for score in scores:
            if score is not None:
                key = self._bar(score)
                counts[key] = counts.get(key, 0) + 1
        if self.bar is None:
            low, high = (round(end) for end in self.scale)
            return {r: counts.get(r, 0) for r in range(low, high + 1)}
        if not counts:
            return {}
        low, high = min(counts), max(counts)
        bars = [round(low + i * self.bar, 3) for i in range(round((high - low) / self.bar) + 1)]
        return {bar: counts.get(bar, 0) for bar in bars}

    def _bar(self, score: float):
        if self.bar is None:
            return round(score)
        return round(math.floor(round(score / self.bar, 6)) * self.bar, 3)


_RUBRIC = (1, 5)  # the paper's 5-point rubric (prompts/score.txt)

MODES = {mode.name: mode for mode in (
    # how much the instruction raises the output's log-likelihood (IFD's log; no rubric, no parsing)
    ScoringMode("likelihood", scale=None, units="nats per token",
                bar=0.025,  # 135M gains span about -0.06..0.2
                card="how much the instruction raises the log-likelihood of the output, in nats "
                     "per token",
                samples=False),
    # the expected rating from the next-token probabilities of 1-5 after the rubric's `Score:`
    ScoringMode("logprob", scale=_RUBRIC, units="ratings", bar=None,
                card="the expected rating on a 5-point scale, from its probabilities of 1-5",
                samples=False, reply_prefix=True),
    # the paper's: a brief reasoning, then `Score: n`, parsed
    ScoringMode("generate", scale=_RUBRIC, units="ratings", bar=None,
                card="a written rating on a 5-point scale", samples=True),
)}

# The type of `score.mode` in params: one of the names above.
ModeName = Literal[tuple(MODES)]


def scoring_mode(name: str) -> ScoringMode:
    return MODES[name]
