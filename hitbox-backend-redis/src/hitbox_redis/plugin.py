"""Entry-point plugin of hitbox-backend-redis. Registers nothing until the backend works."""
