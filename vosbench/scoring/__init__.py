"""Scores: DAVIS J&F (and its YouTube-VOS form) and JHMDB PCK."""
