"""Validation library: purged folds, CPCV, PSR/DSR/MinTRL, bootstrap, effective trials, stress, Stage A/B."""
