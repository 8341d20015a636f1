"""The plugin contract and shared primitives: specs, registries, errors, paths, label files.

Nothing here imports torch or any other part of vosbench.
"""
