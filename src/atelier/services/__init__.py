"""Services: the behaviour, used by both the server and the embedded client."""
