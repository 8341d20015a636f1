"""Folder evaluators, one per benchmark: score a folder of predictions against a dataset's ground truth.

``davis``, ``ytvos``, ``jhmdb`` and ``vip`` each have an ``evaluate(...)`` returning the same
:class:`~vosbench.evaluate.base.Evaluation`; :func:`vosbench.evaluate.dispatch.evaluate_benchmark`
chooses one by name. This file stays empty: ``import vosbench`` imports the package (to keep the
function ``vosbench.evaluate`` from being replaced by it) and must stay light.
"""
