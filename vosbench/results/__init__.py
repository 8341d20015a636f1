"""Run records (schema, reading, writing), leaderboards, regression checks and reports."""
