-- 0009 indexed travellers (registered_at) for the retention purge, but 0005's
-- travellers_registered already does: two identical indexes only slow every insert.
DROP INDEX travellers_registered_at;
