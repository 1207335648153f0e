"""Vectorised statistics: ICC, M_eff, OLS/logistic scans, multiple testing, Cox."""
