"""synthtune: documents -> cited knowledge base -> grounded synthetic dataset -> fine-tuned model -> report."""

__version__ = "0.1.0"
