"""Evaluation: systems at equal policy-token budgets, read three ways (value model, independent reader,
LLM judge), statistics and reports."""
