import pytest

from conftest import ROOT
from humpback.models import load_tokenizer
from humpback.prompts import PromptError, chat_example, load_template, render, with_tag
from humpback.scoring import digit_token_ids, rating_prompt


def test_shipped_templates_have_their_placeholders():
    assert "{output}" in load_template(ROOT / "prompts/backward.txt", {"output"})
    rubric = load_template(ROOT / "prompts/score.txt", {"instruction", "output"})
    assert rubric.index("1:") < rubric.index("5:") < rubric.index("{instruction}")


def test_template_with_wrong_placeholders_is_rejected(tmp_path):
    path = tmp_path / "p.txt"
    path.write_text("Rate {answer}")
    with pytest.raises(PromptError, match=r"p.txt: expected placeholders \['output'\]"):
        load_template(path, {"output"})


def test_render_leaves_braces_in_values_alone():
    assert render("Q: {output}", output="def f(): return {x}") == "Q: def f(): return {x}"


def test_source_tag_is_appended_to_the_instruction():
    assert with_tag("Explain DNS.", "Answer in the style of an AI Assistant.") == \
        "Explain DNS.\n\nAnswer in the style of an AI Assistant."


def test_chat_example_splits_prompt_and_completion(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    prompt, completion = chat_example(tokenizer, "What is 2+2?", "4")
    assert prompt.endswith("<|im_start|>assistant\n") and "What is 2+2?" in prompt
    assert completion.startswith("4<|im_end|>")


def test_rating_prompts_share_the_rubric_prefix(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    rubric = load_template(ROOT / "prompts/score.txt", {"instruction", "output"})
    a = rating_prompt(rubric, tokenizer, "Q1", "A1", "logprob", 100)
    b = rating_prompt(rubric, tokenizer, "Q2", "Score: 5", "logprob", 100)
    prefix = rubric.split("{instruction}")[0]
    assert a[: a.index(prefix) + len(prefix)] == b[: b.index(prefix) + len(prefix)]
    # SmolLM2's tokenizer writes " 4" as two tokens: the prompt ends with the space, so the
    # next token is the digit.
    assert a.endswith("<|im_start|>assistant\nScore: ")
    digits = [tokenizer.convert_ids_to_tokens(group) for group in digit_token_ids(tokenizer)]
    assert digits == [[str(r)] for r in range(1, 6)]
