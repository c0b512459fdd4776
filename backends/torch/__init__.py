"""The torch backend: Param and Rep as training and features, their job kinds and optimizers
(docs/architecture.md, "Jobs, plans and executors" and "Optimizers")."""
