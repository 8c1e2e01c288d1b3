"""Entry-point plugin of hitbox-backend-dynamodb. Registers nothing until the backend works."""
