"""aifab: blueprints of NVIDIA Blackwell GPU clusters, validated, expanded and deployed."""

__version__ = "0.1.0"
