"""Plans, job kinds, executors and the run store: generic, never importing a backend that
registers jobs (docs/architecture.md, "Jobs, plans and executors" and "The run store")."""
