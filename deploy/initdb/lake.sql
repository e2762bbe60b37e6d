-- The DuckLake catalog lives in a database of its own, beside the metadata database.
CREATE DATABASE lake OWNER atelier;
