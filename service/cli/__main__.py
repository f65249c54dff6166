"""`python -m service.cli`: the `whoknows` command."""

from service.cli.main import main

main()
