"""What an operator sees of a running process: request ids, structured logs, metrics."""
