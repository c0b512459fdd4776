"""Analysis handlers (`catdsl.analyses` entry points): one module per analysis kind, each a thin
handler that imports its symbolic or torch implementation only when used (docs/architecture.md,
"Analyses")."""
