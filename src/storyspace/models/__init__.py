"""Language-model backends behind one protocol (see ``base.LanguageModel``)."""

from storyspace.models.base import LanguageModel, Sample, Usage
from storyspace.models.registry import ModelPool, parse_spec

__all__ = ["LanguageModel", "ModelPool", "Sample", "Usage", "parse_spec"]
