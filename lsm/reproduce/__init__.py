"""Reproduction reports: `python -m lsm.reproduce --paper=<paper>` trains (or reuses) a
paper's bounded runs, runs the evaluators and writes one markdown report of each
claim of the paper beside the measured figure (see __main__.py)."""
