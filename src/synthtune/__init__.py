"""synthtune: documents -> cited knowledge base -> grounded synthetic dataset -> fine-tuned model -> report."""

__version__ = "0.1.0"

from synthtune.config import Settings, load_settings
from synthtune.project import Project, init_project

__all__ = ["Project", "Settings", "init_project", "load_settings", "__version__"]
