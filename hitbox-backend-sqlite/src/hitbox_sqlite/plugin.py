"""Entry-point plugin of hitbox-backend-sqlite. Registers nothing until the backend works."""
