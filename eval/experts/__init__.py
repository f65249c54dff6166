"""Expert-finding evaluation on Stack Exchange dumps with baselines."""
