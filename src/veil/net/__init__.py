"""Transport between parties: framed messages over TCP."""
