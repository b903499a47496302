"""Pipeline stages, one file each; ``pipeline.py`` fixes their order."""

from .base import Call, Next, Stage

__all__ = ["Call", "Next", "Stage"]
