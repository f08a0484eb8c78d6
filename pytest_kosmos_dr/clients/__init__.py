"""One module per kind of client; each sets its timeouts and retries in one place."""
