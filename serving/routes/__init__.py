"""The HTTP endpoints, one module per resource. Each parses, calls one domain function, returns a schema."""
