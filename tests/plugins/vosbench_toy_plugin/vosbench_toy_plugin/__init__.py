"""A third-party vosbench encoder, packaged the way a researcher would ship one.

The entry point ``toy-plugin`` in group ``vosbench.models`` names :data:`MODEL`; vosbench reads the
spec without importing torch and imports the factory only when the model is built.
"""

from __future__ import annotations

from vosbench import ModelSpec

MODEL = ModelSpec(
    name="toy-plugin",
    description="Fixed random 8x8 patch projection (stride 8, 16 ch): a plugin example",
    factory="vosbench_toy_plugin.encoder:build",
    stride=8,
    channels=16,
    input_multiple=8,
    paper="vosbench plugin example",
    license="MIT",
)
