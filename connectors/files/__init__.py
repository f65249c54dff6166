"""The `files` source: a folder of PDF, HTML, Markdown and plain-text files."""
