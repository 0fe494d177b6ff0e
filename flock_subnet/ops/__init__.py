"""Operating neurons in production: heartbeats, the hang watchdog, and the git auto-updater (all under pm2)."""
