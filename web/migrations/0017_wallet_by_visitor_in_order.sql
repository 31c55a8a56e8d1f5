-- Every check-in's door decision reads the visitor's certificates newest first
-- (checkin/wallet.py PROFILE_AND_CERTIFICATES: ORDER BY added_at DESC, id DESC). The
-- (visitor_id, ci_hash) unique index finds them but not in that order, so SQLite sorted
-- them in a temporary B-tree on each check-in; this index reads them in order.
CREATE INDEX wallet_certificates_visitor_added ON wallet_certificates (visitor_id, added_at, id);
