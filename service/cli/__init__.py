"""The `whoknows` command: one module per command group, wired in `main.py`."""
