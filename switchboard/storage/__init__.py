"""Azure Table Storage and queues, shared by every capability: connections, ETag helpers, batching."""
