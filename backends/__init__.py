"""Interpretations of semantic categories: symbolic (sympy), torch (Param, Rep, Dom), run (plans and the store)."""
