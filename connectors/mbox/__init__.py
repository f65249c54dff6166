"""The `mbox` source: mailing-list archives rebuilt into threads."""
