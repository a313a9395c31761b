import click

from humpback.config import load_params
from humpback.engines import EngineSpec, Sampling, load_engine
from humpback.prompts import chat_prompt, with_tag


@click.command()
@click.argument("instruction")
@click.option("--model", "model_dir", default="models/forward/0", show_default=True,
              help="A forward model (adapter folder) made by the pipeline.")
@click.option("--base", "base_dir", default="models/base", show_default=True)
@click.option("--max-new-tokens", default=200, show_default=True)
def chat(instruction: str, model_dir: str, base_dir: str, max_new_tokens: int) -> None:
    """Answer INSTRUCTION with a trained model, in the AI-assistant style the paper asks for."""
    params = load_params()
    engine = load_engine(EngineSpec(params.engine.backend, base_dir, model_dir, batch_size=1,
                                    dtype=params.base.dtype),
                         params.engine)
    prompt = chat_prompt(engine.tokenizer, with_tag(instruction, params.prompts.seed_tag))
    click.echo(engine.generate([prompt], Sampling(max_new_tokens))[0].strip())
