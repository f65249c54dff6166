"""`python -m eval.load`: the search load test."""

from eval.load.scenarios import main

raise SystemExit(main())
