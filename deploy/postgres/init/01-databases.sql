-- One database per service: each service owns its data and its migrations (Alembic, per-service version
-- table); none reads another's tables. Runs once, when the postgres volume is first initialised, as
-- POSTGRES_USER, who owns the four databases. Adding a service later: create its database by hand.
CREATE DATABASE mcc_intake;
CREATE DATABASE mcc_hotline;
CREATE DATABASE mcc_grid;
CREATE DATABASE mcc_dispatch;
