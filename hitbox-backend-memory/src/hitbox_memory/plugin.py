"""Entry-point plugin of hitbox-backend-memory. Registers nothing until the backend works."""
