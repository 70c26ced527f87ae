"""The docker target: the reference's staging phase as containers on one Docker host."""
