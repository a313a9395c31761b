"""Answer rewriting's checks on the rewriter's untrusted output, and its content measures."""

from humpback.prompts import load_template
from humpback.rewriting import kept_share, measure, prompt_lines, rare_words, review, summary

from conftest import ROOT

TEMPLATE = load_template(ROOT / "prompts/rewrite.txt", {"instruction", "original"})
LINES = prompt_lines(TEMPLATE)


def test_untrusted_rewrites_are_dropped_with_a_reason():
    assert review("  \n", LINES, over_budget=False) == "empty"
    assert review("I'm sorry, but I can't help with that.", LINES, over_budget=False) == "refused"
    assert review("As an AI language model, I cannot browse.", LINES, over_budget=False) == "refused"
    assert review("Use open() in a with block.", LINES, over_budget=True) == "over_budget"
    echo = "Sure. " + TEMPLATE.splitlines()[0].upper() + "\nUse open()."
    assert review(echo, LINES, over_budget=False) == "echoed_prompt"
    assert review("Use open() in a with block; it closes the file.", LINES, over_budget=False) is None


def test_a_rewrite_may_quote_the_instruction_or_the_source():
    """Only the prompt's own text counts as an echo: the instruction and source are content."""
    assert review("How do I read a file? Open it with open().", LINES, over_budget=False) is None


def test_numbers_and_rare_words_kept():
    outputs = ["The flag -O2 sets optimisation level 2 in gcc 13.2.",
               "Python reads files with open().", "Python lists grow by appending items."]
    rare = rare_words(outputs)
    assert {"optimisation", "flag", "level"} <= rare and "python" not in rare  # in 2 of 3 texts
    measured = measure(outputs[0], "Use gcc with -O2 (optimisation level 2).", rare)
    assert measured["numbers_kept"] == 0.5  # the original's {2, 13.2}: 13.2 was dropped
    assert kept_share({"13.2", "2"}, "gcc 13.2", words=False) == 0.5  # whole numbers only
    assert measured["rare_words_kept"] == 0.5  # optimisation, level of flag, sets, optimisation, level
    assert measured["length_ratio"] < 1


def test_summary_counts_each_reason_and_averages_the_kept():
    records = [{"dropped": None, "length_ratio": 0.5, "numbers_kept": 1.0, "rare_words_kept": None},
               {"dropped": None, "length_ratio": 1.5, "numbers_kept": None, "rare_words_kept": 0.5},
               {"dropped": "refused"}, {"dropped": "empty"}, {"dropped": "empty"}]
    assert summary(records) == {
        "curated": 5, "kept": 2, "dropped_empty": 2, "dropped_refused": 1,
        "dropped_echoed_prompt": 0, "dropped_over_budget": 0, "mean_length_ratio": 1.0,
        "mean_numbers_kept": 1.0, "mean_rare_words_kept": 0.5}
