-- Schema drift: per connector resource, the baseline shape of vendor records (field paths and the
-- JSON types seen at each), learned from the first sampled answers or accepted by an operator.
CREATE TABLE schema_baselines (
    connector TEXT NOT NULL,
    resource TEXT NOT NULL,
    shape TEXT NOT NULL,            -- patchbay_engine::shape::Shape as JSON
    samples INTEGER NOT NULL,       -- sampled answers folded in
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (connector, resource)
);
