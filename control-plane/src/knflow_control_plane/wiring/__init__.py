"""The pieces ``bootstrap.build`` assembles a replica from, by concept: backends, infrastructure."""
