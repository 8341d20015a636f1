"""The run-record contract: what a run folder holds (schema), reading it back (reader), and the interval
statistics that the writer stores and the analyses read (stats, stats_io)."""
