"""The embedded demo: a broker child process, the platform on SQLite and simulated gates in one box."""
