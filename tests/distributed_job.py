"""Run stages one after another in the current (possibly `accelerate launch`ed) process group.

    accelerate launch --multi_gpu --num_processes 2 tests/distributed_job.py SPEC.json

SPEC.json: a list of [stage, config kwargs]; stage one of rm, dpo, ppo. Used by tests/test_distributed.py.
"""

import json
import sys

from kaizen.dpo import DPOConfig
from kaizen.dpo import run as run_dpo
from kaizen.ppo import PPOConfig
from kaizen.ppo import run as run_ppo
from kaizen.reward import RewardConfig
from kaizen.reward import run as run_rm

STAGES = {"rm": (RewardConfig, run_rm), "dpo": (DPOConfig, run_dpo), "ppo": (PPOConfig, run_ppo)}

if __name__ == "__main__":
    for stage, kwargs in json.loads(open(sys.argv[1]).read()):
        config, run = STAGES[stage]
        run(config(**kwargs))
    import torch.distributed as dist  # after the stages: their Accelerator set up the process group

    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    print(f"distributed_job: process {rank} of {world}")
