"""Laws as values: obligations generated from declarations, their discharge and verdicts."""
