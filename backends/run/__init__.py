"""Plan execution and the run store (DESIGN.md §5)."""
