"""Source folders: listing without following links, hashing, and telling what changed since the snapshot."""
