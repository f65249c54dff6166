"""Answer evaluation on SciFact: citation precision, calibration."""
