"""`analyze recommend` and its history: policy in, timeouts and breaker settings out."""
