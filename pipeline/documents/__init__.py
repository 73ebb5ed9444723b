"""Overview documents: reading the documents folder, loading parsed documents into the core tables, the parse cache."""
