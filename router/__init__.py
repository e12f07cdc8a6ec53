"""Router: connection rules from requests to events."""
