"""Tests of the operations tooling: heartbeat, watchdog, auto-updater, pm2 ecosystem, localnet script."""
