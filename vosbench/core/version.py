"""The vosbench version (read by the build backend; re-exported as ``vosbench.__version__``)."""

__version__ = "0.1.0"
