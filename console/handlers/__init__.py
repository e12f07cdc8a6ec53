"""Page handlers, one module per area; templates live in console/templates."""
