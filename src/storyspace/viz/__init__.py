"""Pictures of results: an HTML tree viewer (and PNG plots)."""
