"""ShareMyShows API gateway: a lean streaming reverse proxy in front of every service."""
