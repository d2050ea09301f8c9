-- New clusters are SASL_SSL unless they ask for plaintext; clusters requested before
-- the setting existed are plaintext, and their specs now say so.
UPDATE clusters SET spec = spec || '{"security": "plaintext"}'::jsonb
WHERE NOT spec ? 'security';
