//! Alert delivery through the durable outbox. Not implemented yet.
