"""Shipped learned value weights (``storyspace fit-value``)."""
