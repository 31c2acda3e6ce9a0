"""The embedded store under data_dir: owner-only files, SQLite for spans."""
