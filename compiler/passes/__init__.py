"""Graph -> graph passes, one file each, each with one job; compile.py runs them from its explicit list (PASSES).

Each pass module's docstring says what it matches, what it rewrites and why that is exact.  Numeric helpers that are
not passes live in compiler/numerics/.
"""
