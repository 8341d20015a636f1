"""Former home of vosbench's internals, kept so that published plugins keep importing.

``vosbench.core.specs``, ``.errors`` and ``.registry`` re-export :mod:`vosbench.core`; new code
imports from :mod:`vosbench` (``ModelSpec``, ``DatasetSpec``, the errors) or :mod:`vosbench.core`.
"""
