"""The SQLite store of record: schema, documents and chunks, people and identity, ACL-checked reads."""
