"""Policy improvement: preference pairs from search trees, ORPO, and the search->train loop."""
