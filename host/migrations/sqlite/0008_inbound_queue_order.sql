-- The processing queue is read in id order among the pending: with (status, lease_until) SQLite
-- sorted every pending request for each claim, and the write lock was held meanwhile, which grew
-- with the backlog. (status, id) walks them in order and stops at the claim's limit.
DROP INDEX inbound_webhooks_pending;
CREATE INDEX inbound_webhooks_queue ON inbound_webhooks (status, id);
