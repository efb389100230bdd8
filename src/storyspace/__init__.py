"""storyspace: curiosity-guided Monte Carlo Tree Search over story space (COS(M+O)S)."""

__version__ = "0.1.0"
