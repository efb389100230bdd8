"""Step-level value model: curiosity (inverted U of surprisal) x coherence x penalties."""
