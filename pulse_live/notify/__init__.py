"""Notifications: who hears about a ticket change (planner), in-app rows for users online, the durable
mail outbox for users offline, and the sender worker that drains it."""
