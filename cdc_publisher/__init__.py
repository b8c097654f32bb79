"""The CDC publisher: reads an environment's change stream and publishes it, in batches, to that
environment's queue on the central broker. Runs on environment machines with only the broker
reachable, so nothing here imports Django or the hub's database layer."""
