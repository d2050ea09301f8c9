-- What agents report of each broker beyond health: disk usage on its volume and the
-- record bytes produced to and fetched from it since it started.
ALTER TABLE broker_status
    ADD COLUMN disk_used_bytes bigint,
    ADD COLUMN bytes_in bigint,
    ADD COLUMN bytes_out bigint;
