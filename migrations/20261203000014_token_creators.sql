-- An API token acts with its creator's authority: it stops working when the user who
-- created it (directly, or through another token) no longer holds the role it grants.
ALTER TABLE api_tokens
    ADD COLUMN creator_user_id uuid REFERENCES users(id) ON DELETE CASCADE;

UPDATE api_tokens t SET creator_user_id = u.id
FROM users u WHERE t.created_by = 'user:' || u.username;
