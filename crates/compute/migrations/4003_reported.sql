ALTER TABLE compute_services ADD COLUMN reported_instances TEXT;
