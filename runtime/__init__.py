"""What every FastHook service process shares: settings, the Kafka helper, logs and probes."""
