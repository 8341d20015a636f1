"""Run-record analyses: leaderboards, regression checks, comparisons and reports."""
