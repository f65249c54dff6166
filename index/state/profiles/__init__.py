"""What people say about themselves and others while the service runs: settings, topics, feedback, mentoring, audit."""
