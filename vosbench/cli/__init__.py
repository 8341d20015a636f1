"""The ``vosbench`` command line: one module per command, plus the terminal tables."""
