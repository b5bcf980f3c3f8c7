-- ShareMyShows: one role and one database per service (database-per-service; a service reaches only its own).
-- Run once by the postgres image on an empty data directory (/docker-entrypoint-initdb.d/), through psql as the
-- superuser. Passwords come from the container's environment (psql \getenv, PostgreSQL 15+), never from this file.
\set ON_ERROR_STOP on

\getenv auth_password AUTH_DB_PASSWORD
\getenv shows_password SHOWS_DB_PASSWORD
\getenv media_password MEDIA_DB_PASSWORD
\getenv social_password SOCIAL_DB_PASSWORD

CREATE ROLE auth   LOGIN PASSWORD :'auth_password';
CREATE ROLE shows  LOGIN PASSWORD :'shows_password';
CREATE ROLE media  LOGIN PASSWORD :'media_password';
CREATE ROLE social LOGIN PASSWORD :'social_password';

-- The owner of a database owns its `public` schema rights (pg_database_owner, PostgreSQL 15+), so each service's
-- migrations can create their tables; nobody else may connect.
CREATE DATABASE auth   OWNER auth;
CREATE DATABASE shows  OWNER shows;
CREATE DATABASE media  OWNER media;
CREATE DATABASE social OWNER social;

REVOKE ALL ON DATABASE auth   FROM PUBLIC;
REVOKE ALL ON DATABASE shows  FROM PUBLIC;
REVOKE ALL ON DATABASE media  FROM PUBLIC;
REVOKE ALL ON DATABASE social FROM PUBLIC;
