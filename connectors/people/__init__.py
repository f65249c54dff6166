"""The `people` source: a directory (CSV or SCIM-like JSON) of people and their accounts."""
