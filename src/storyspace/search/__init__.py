"""Search over steps; knows nothing of prompts or models (see ``mcts.StepModel``)."""

from storyspace.search.mcts import Expansion, SearchConfig, StepModel, search
from storyspace.search.tree import Node, Tree

__all__ = ["Expansion", "Node", "SearchConfig", "StepModel", "Tree", "search"]
