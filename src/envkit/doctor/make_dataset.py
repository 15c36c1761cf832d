"""Run BY THE TARGET interpreter: write a tiny LeRobot dataset with lerobot's own API.

Usage: python make_dataset.py ROOT REPO_ID. One 96x128 camera, 6-dim state and action,
3 episodes x 40 frames at 30 fps (cpu-feasibility.md section 4): small enough to write in a few
seconds, big enough for ACT's chunk of 10 and a batch of 2.
"""

import sys

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset


def main(root: str, repo_id: str) -> None:
    features = {
        "observation.images.front": {"dtype": "video", "shape": (96, 128, 3), "names": ["height", "width", "channels"]},
        "observation.state": {"dtype": "float32", "shape": (6,), "names": None},
        "action": {"dtype": "float32", "shape": (6,), "names": None},
    }
    ds = LeRobotDataset.create(repo_id=repo_id, fps=30, root=root, features=features, use_videos=True)
    rng = np.random.default_rng(0)
    for _ in range(3):
        for i in range(40):
            image = np.full((96, 128, 3), (i * 6) % 256, dtype=np.uint8)
            state = rng.standard_normal(6).astype(np.float32)
            ds.add_frame({"observation.images.front": image, "observation.state": state,
                          "action": state + 0.1, "task": "hold still"})
        ds.save_episode()
    if hasattr(ds, "finalize"):  # v3.0 writers buffer metadata until finalize()
        ds.finalize()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
