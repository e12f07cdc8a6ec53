"""`fasthook listen`: forward a team's events to a server on this machine, through the API."""
