"""Helpers shared by the test modules: the CLI runner (:mod:`tests.support.cli`), the naive
propagation reference (:mod:`tests.support.propagation`) and a local byte-range HTTP server
(:mod:`tests.support.http`)."""
