"""Text to AST and back: the parser (`parse`) and the canonical printer (`printer`)."""
