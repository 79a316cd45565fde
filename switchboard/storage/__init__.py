"""Azure Table Storage and queues, for every capability: connections, ETag helpers, batching."""
