"""Entry-point plugin of hitbox-http. Registers nothing yet."""
