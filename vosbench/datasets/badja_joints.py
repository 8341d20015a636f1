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

#: bones to draw between the joints (indices above): each leg from the body down, the neck to the
#: front legs, the head and the tail, and the spine from the neck to the tail's base
BADJA_SKELETON: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (3, 4), (4, 5), (6, 0), (6, 3),
    (7, 8), (8, 9), (10, 11), (11, 12), (13, 7), (13, 10),
    (13, 14), (14, 15), (6, 13), (6, 16), (16, 17), (16, 18), (16, 19),
)  # fmt: skip
