"""The language filter: each document's language by py3langid, whose model ships inside the
package (fastText's lid.176 is a download, which fails offline).

A document is classified once, from the first SAMPLE_CHARS characters of its segments that passed
the other filters (py3langid walks the text byte by byte in Python: a sample keeps it at a
fraction of a millisecond), and those segments are kept or dropped together: a page's language is
a property of the page, as FineWeb filters it.
"""

from __future__ import annotations

from functools import cache

from humpback.corpus.needs import need
from humpback.errors import HumpbackError

SAMPLE_CHARS = 600  # about 0.3 ms; py3langid is as sure of a page from 600 characters of prose


@cache
def _identifier():
    need("py3langid", "the language filter (corpus.languages)")
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


def check_languages(languages: list[str]) -> None:
    """Codes the model does not know would silently drop everything: name them now."""
    known = set(_identifier().nb_classes)
    unknown = [code for code in languages if code not in known]
    if unknown:
        raise HumpbackError(f"corpus.languages: {', '.join(map(repr, unknown))} not known to "
                            f"py3langid (ISO 639-1 codes such as en, de, fr, zh; it knows "
                            f"{len(known)})")


def identify(text: str) -> tuple[str, float]:
    """The most likely language of `text` and its probability."""
    language, score = _identifier().classify(text[:SAMPLE_CHARS])
    return language, float(score)


def accepted(text: str, languages: list[str], min_score: float) -> bool:
    """False only when `text` is, with probability at least `min_score`, in a language not
    listed. An unsure answer keeps the text: py3langid is unsure of code, grammars and tables
    (600 characters of a Python grammar score 0.4 for English), never of prose in another
    language (German or French prose scores 1.0)."""
    language, score = identify(text)
    return language in languages or score < min_score
