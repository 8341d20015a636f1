"""``python -m vosbench ...`` is the ``vosbench`` command (e.g. under ``torchrun``)."""

from vosbench.cli.main import main

main()
