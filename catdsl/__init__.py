"""catdsl: a small formal language for category theory with a numeric backend.

Importing this package is cheap: nothing here imports torch, sympy or hypothesis.
"""

__version__ = "0.1.0"
