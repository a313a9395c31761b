"""Every rank of a 2-process FSDP launch (tests/test_distributed.py): a full fine-tune run
through, and the same run crashed after its first checkpoint and resumed. Rank 0 loads the
checkpoint and broadcasts it into the other rank's shards."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from humpback.config import TrainParams  # noqa: E402
from humpback.training import train  # noqa: E402

PAIRS = [("Say hi.", "Hello there!"), ("Name a colour.", "Blue, like the sky at noon."),
         ("Count to three.", "One, two, three."), ("Say bye.", "Goodbye, see you soon.")]


class Crash(Exception):
    pass


def crash_at(step_to_crash):
    def on_step(step, loss):
        if step == step_to_crash:
            raise Crash
    return on_step


if __name__ == "__main__":
    base, out = sys.argv[1], Path(sys.argv[2])
    params = TrainParams(method="full", steps=4, batch_size=4, micro_batch_size=2,
                         learning_rate=1e-3, final_lr_fraction=0.9, weight_decay=0.1, dropout=0.0,
                         max_length=64, lora_r=8, lora_alpha=16, lora_target_modules=["all-linear"],
                         lora_top_layers=None, checkpoint_every=2, device="cpu",
                         launcher="accelerate", processes=2,
                         accelerate_config="configs/accelerate/fsdp.yaml")
    train(base, PAIRS, params, seed=0, out_dir=out / "whole")
    checkpoint = out / "checkpoint.safetensors"
    try:
        train(base, PAIRS, params, seed=0, out_dir=out / "resumed", checkpoint=checkpoint,
              on_step=crash_at(2))  # after step 2's checkpoint
    except Crash:
        pass
    stats = train(base, PAIRS, params, seed=0, out_dir=out / "resumed", checkpoint=checkpoint)
    print("resumed_at_step", stats["resumed_at_step"])
