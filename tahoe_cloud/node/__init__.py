"""The storage-node process: identity, NURLs, the Twisted service and logging."""
