"""The control plane: the configuration log every service builds its view from."""
