"""`python -m eval` (also `whoknows eval`): retrieval, answer and expert evaluations."""

from eval.cli import main

main()
