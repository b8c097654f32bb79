"""The floor every app stands on and that imports none of them: the hub's Redis client
(``redis``), roles and permissions (``roles``), worker health (``health``), the broker's queues and
countdowns (``broker``), and throttling of refused credentials (``throttle``). Only the
publisher's contract (``cdc_publisher``) is below it."""
