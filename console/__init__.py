"""The web console: server-rendered pages over the public /v1 API, signed in with an API key."""
