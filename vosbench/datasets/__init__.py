"""Dataset adapters: DAVIS, YouTube-VOS, JHMDB and the synthetic generators, read lazily."""
