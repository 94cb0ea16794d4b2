"""The client: the standard library and httpx only. Knows nothing of notebooks, widgets or pandas."""
