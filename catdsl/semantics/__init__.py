"""Elaboration: AST -> Module (names, typed terms, presentations); free-category normal forms."""
