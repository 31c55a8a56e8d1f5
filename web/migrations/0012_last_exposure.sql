-- A contact's exposure keeps the longest overlap (its venue and time range), but black status,
-- isolation and retention must run from the person's latest overlap of that risk, which may
-- come later (the same case met twice, or a second case). Existing rows had only the kept
-- overlap: it is their best known last exposure.
ALTER TABLE exposures ADD COLUMN last_exposed_at BIGINT NOT NULL DEFAULT 0;

UPDATE exposures SET last_exposed_at = exposed_until;

CREATE INDEX exposures_last_exposed_at ON exposures (last_exposed_at);

DROP INDEX exposures_exposed_until;
