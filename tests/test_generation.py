import torch

from humpback.engines import Sampling
from humpback.engines.hf import HFEngine, _common_prefix_length
from humpback.models import load_for_inference, load_tokenizer
from humpback.prompts import chat_prompt

RUBRIC = "Rate the answer from 1 to 5 with care, reading every word of it first. "
PROMPTS = [RUBRIC + "Q: What is 2+2? A: 4", RUBRIC + "Q: Name a colour. A: a long answer " * 3,
           RUBRIC + "Q: x A: y"]


def engine(model_dir, batch_size=2, reuse_prefix=True):
    model = load_for_inference(model_dir).float()  # fp32: compare the two paths exactly
    return HFEngine(model, load_tokenizer(model_dir), batch_size, reuse_prefix)


def test_reusing_the_shared_prefix_gives_the_same_probabilities(tiny_model):
    groups = [[i] for i in range(30, 35)]
    cached = engine(tiny_model).next_token_probs(PROMPTS, groups)
    plain = engine(tiny_model, reuse_prefix=False).next_token_probs(PROMPTS, groups)
    assert torch.allclose(torch.tensor(cached), torch.tensor(plain), atol=1e-5)


def test_probabilities_do_not_depend_on_the_batch(tiny_model):
    groups = [[i] for i in range(30, 35)]
    together = engine(tiny_model, batch_size=3).next_token_probs(PROMPTS, groups)
    alone = [engine(tiny_model, batch_size=1).next_token_probs([p], groups)[0] for p in PROMPTS]
    assert torch.allclose(torch.tensor(together), torch.tensor(alone), atol=1e-5)


def test_sampling_is_reproducible_from_the_seed(tiny_model):
    tokenizer = load_tokenizer(tiny_model)
    prompts = [chat_prompt(tokenizer, p) for p in PROMPTS]
    sampling = Sampling(max_new_tokens=6, temperature=0.7, top_p=0.9, seed=3)
    first = engine(tiny_model).generate(prompts, sampling)
    assert engine(tiny_model).generate(prompts, sampling) == first and len(first) == 3
    assert engine(tiny_model).generate(prompts, Sampling(6, 0.7, 0.9, seed=4)) != first


def test_common_prefix_leaves_a_token_to_run():
    assert _common_prefix_length([[1, 2, 3], [1, 2, 4]]) == 2
    assert _common_prefix_length([[1, 2], [1, 2, 3]]) == 1
    assert _common_prefix_length([[5], [6]]) == 0
