"""End-to-end tests: the whole system on real mosquitto, PostgreSQL, InfluxDB and a running edge agent."""
