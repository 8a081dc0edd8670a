"""Answer checking: math (sympy), code (sandboxed tests), multiple choice; one Verdict type."""
