"""Reading documents into pages, cutting pages into chunks, and loading both into the store."""
