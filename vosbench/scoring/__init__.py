"""Scores: DAVIS J&F (and its YouTube-VOS form), JHMDB PCK, and scoring folders of predictions."""
