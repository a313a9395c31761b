"""base: materialise the base model named in params.yaml (section `base`) as safetensors."""

from humpback.base_model import materialise
from humpback.config import load_params
from humpback.metrics import timed, write_metrics
from humpback.stage import run_stage


def main(model_dir: str, metrics: str) -> None:
    params = load_params(stage="base").base
    stats: dict = {}
    with timed(stats):
        stats.update(materialise(params, model_dir))
    write_metrics(metrics, stats)


if __name__ == "__main__":
    run_stage(main, __doc__, "model_dir", "metrics")
