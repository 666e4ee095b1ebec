"""Shared neural-network blocks: recurrent cells, losses, schedules."""
