"""Loaders that turn public learning-analytics datasets into meter_sim inputs."""
