"""The 20 BADJA joints and where they sit in BADJA's 37-entry JSON lists (benjiebob/BADJA
code/joint_catalog.py: ``SMALJointCatalog`` names, ``SMALJointInfo.annotated_classes`` order)."""

from __future__ import annotations

#: SMAL joint index of each BADJA joint (BADJA code/joint_catalog.py ``annotated_classes``)
SMAL_INDEX = (8, 9, 10, 12, 13, 14, 15, 18, 19, 20, 22, 23, 24, 25, 28, 31, 32, 33, 35, 36)
#: the 20 scored joints, in that order (names of BADJA's ``SMALJointCatalog``)
BADJA_JOINTS = (
    "upper_right_1",
    "upper_right_2",
    "upper_right_3",
    "upper_left_1",
    "upper_left_2",
    "upper_left_3",
    "neck_lower",
    "lower_right_1",
    "lower_right_2",
    "lower_right_3",
    "lower_left_1",
    "lower_left_2",
    "lower_left_3",
    "tail_0",
    "tail_3",
    "tail_6",
    "jaw",
    "nose",
    "right_ear",
    "left_ear",
)
#: entries of a JSON file's ``joints`` / ``visibility`` lists
SMAL_JOINTS = 37
