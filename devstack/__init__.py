"""Local development stack: the embedded Redis server and the `make run` supervisor."""
