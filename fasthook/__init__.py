"""The `fasthook` command: runs the embedded stack and the services, and operates them."""
