"""ShareMyShows shared library: the pieces every service uses, written once."""
