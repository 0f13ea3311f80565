-- The audit chain over a batch of leaves, from the chain value before it (DESIGN.md §6):
-- chain_i = SHA-256(chain_{i-1} || SHA-256(0x00 || leaf_i)); leaves is a JSON array of UTF-8 texts.
-- A function, not a subquery in the append's SET clause: a correlated subquery there is not
-- re-evaluated against the row version an UPDATE re-reads after waiting for a concurrent append
-- (EvalPlanQual), while a function's arguments are.
CREATE FUNCTION keyward_audit_chain(prev bytea, leaves jsonb) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  WITH RECURSIVE
    b(ord, leaf) AS (SELECT t.ord, convert_to(t.v, 'UTF8') FROM jsonb_array_elements_text(leaves) WITH ORDINALITY AS t(v, ord)),
    c(i, x) AS (SELECT 0::bigint, prev UNION ALL SELECT c.i + 1, sha256(c.x || sha256('\x00'::bytea || b.leaf)) FROM c JOIN b ON b.ord = c.i + 1)
  SELECT x FROM c ORDER BY i DESC LIMIT 1
$$;
