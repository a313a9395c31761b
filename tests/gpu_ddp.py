"""Two fp32 LoRA steps on the tiny model on the GPU(s) this process is given: run alone, or as
every rank of `torchrun --nproc_per_node 2` (NCCL), by tests/test_gpu.py."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from humpback.config import TrainParams  # noqa: E402
from humpback.training import train  # noqa: E402

PAIRS = [("Say hi.", "Hello there!"), ("Name a colour.", "Blue, like the sky at noon."),
         ("Count to three.", "One, two, three."), ("Say bye.", "Goodbye, see you soon.")]

if __name__ == "__main__":
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    params = TrainParams(method="lora", steps=2, batch_size=4, micro_batch_size=2,
                         learning_rate=1e-3, final_lr_fraction=0.9, weight_decay=0.0, dropout=0.0,
                         max_length=64, lora_r=8, lora_alpha=16, lora_target_modules=["all-linear"],
                         lora_top_layers=None, checkpoint_every=None, device="cuda",
                         mixed_precision="no", launcher="torchrun" if processes > 1 else "python",
                         processes=processes)
    train(sys.argv[1], PAIRS, params, seed=0, out_dir=sys.argv[2], dtype="float32")
