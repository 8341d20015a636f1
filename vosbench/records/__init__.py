"""The run-record contract: the shapes of a run folder's files (types), writing them (schema,
ledger_files), reading them back checked (reader, tables, ledger_files, with the rules in checks),
and the interval statistics that the writer stores and the analyses read (stats, stats_io)."""
