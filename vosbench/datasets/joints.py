"""The 15 JHMDB joints in the order of the dataset's ``joint_positions.mat`` (the order of the JHMDB
readers in urs-waldmann/improving-unsupervised-label-propagation, src/dataset/JHMDB.py, and
open-mmlab/mmpose, configs/_base_/datasets/jhmdb.py)."""

from __future__ import annotations

JOINTS = (
    "neck",
    "belly",
    "face",
    "right_shoulder",
    "left_shoulder",
    "right_hip",
    "left_hip",
    "right_elbow",
    "left_elbow",
    "right_knee",
    "left_knee",
    "right_wrist",
    "left_wrist",
    "right_ankle",
    "left_ankle",
)
