"""Run BY THE TARGET interpreter: write a tiny LeRobot dataset with lerobot's own API.

Usage: python make_dataset.py ROOT REPO_ID [MODULE]. One 96x128 camera, 6-dim state and action,
3 episodes x 40 frames at 30 fps (cpu-feasibility.md section 4): small enough to write in a few
seconds, big enough for ACT's chunk of 10 and a batch of 2.

MODULE is where the installed lerobot keeps LeRobotDataset (the doctor's probe finds it:
`lerobot.datasets.lerobot_dataset` from 0.3.x on, `lerobot.common.datasets.lerobot_dataset` in
the draccus-era trees forks vendor). The writer API differs between layouts only in how the task
is passed: `save_episode(task)` in the first v2.0 trees, `add_frame(frame, task)` up to 0.3.x,
`frame["task"]` from 0.4 on; the signatures say which.
"""

import importlib
import inspect
import sys

import numpy as np

TASK = "hold still"


def main(root: str, repo_id: str, module: str = "lerobot.datasets.lerobot_dataset") -> None:
    LeRobotDataset = importlib.import_module(module).LeRobotDataset
    features = {
        "observation.images.front": {"dtype": "video", "shape": (96, 128, 3), "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (6,), "names": None},
        "action": {"dtype": "float32", "shape": (6,), "names": None},
    }
    ds = LeRobotDataset.create(repo_id=repo_id, fps=30, root=root, features=features, use_videos=True)
    task_apart = "task" in inspect.signature(ds.add_frame).parameters
    task_on_save = "task" in inspect.signature(ds.save_episode).parameters  # the first v2.0 trees (early 2025)
    rng = np.random.default_rng(0)
    for _ in range(3):
        for i in range(40):
            image = np.full((96, 128, 3), (i * 6) % 256, dtype=np.uint8)
            state = rng.standard_normal(6).astype(np.float32)
            frame = {"observation.images.front": image, "observation.state": state, "action": state + 0.1}
            if task_apart:
                ds.add_frame(frame, task=TASK)
            elif task_on_save:
                ds.add_frame(frame)
            else:
                ds.add_frame({**frame, "task": TASK})
        if task_on_save:
            ds.save_episode(task=TASK)
        else:
            ds.save_episode()
    if hasattr(ds, "finalize"):  # v3.0 writers buffer metadata until finalize()
        ds.finalize()


if __name__ == "__main__":
    main(*sys.argv[1:4])
