"""Stand-in for AUTOMATIC1111 webui v1.10.1's `modules` package (signatures and call order only)."""
