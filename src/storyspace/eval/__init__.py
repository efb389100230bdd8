"""Evaluation: systems at equal policy-token budgets, three judges, statistics and reports."""
