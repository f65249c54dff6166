"""Load tests: `whoknows serve` under concurrent /search load, with a snapshot swap mid-run."""
