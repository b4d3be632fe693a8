"""Moving knowledge bases in and out of other tools' formats (LlamaIndex's persisted JSON stores)."""
