-- A version per metric_hours row, so that a reader may keep decoded hour rows in memory and reuse one only while its
-- version is still the row's (services/query/hour-cache.ts). Every write of a row, by whatever code writes it (the
-- fold's upsert, a rebuild after late samples, a restore of saved rows), takes the next value of one sequence in a
-- trigger: versions only grow and are never reused, so an equal version means the same bytes. The column is added
-- without a default, which changes no existing row (no table rewrite at upgrade): rows written before it have no
-- version: each fold stamps a bounded number of them (so an upgrade does not rewrite the table at once), and until
-- then they are read from the table every time.
CREATE SEQUENCE metric_hours_version;
ALTER TABLE metric_hours ADD COLUMN version bigint;

CREATE FUNCTION vigil_metric_hours_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.version := nextval('metric_hours_version');
  RETURN NEW;
END
$$;

CREATE TRIGGER metric_hours_version BEFORE INSERT OR UPDATE ON metric_hours
  FOR EACH ROW EXECUTE FUNCTION vigil_metric_hours_version();

-- The rows still without a version, which the fold stamps a bounded number at a time (services/query/series-fold.ts).
CREATE INDEX metric_hours_unversioned_idx ON metric_hours (hour) WHERE version IS NULL;
