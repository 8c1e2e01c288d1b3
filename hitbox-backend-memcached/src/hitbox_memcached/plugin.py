"""Entry-point plugin of hitbox-backend-memcached. Registers nothing until the backend works."""
