"""meter_sim."""
