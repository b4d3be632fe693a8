"""``synthtune eval``: score a model's answers on held-out questions, with metrics, CIs and a report."""
