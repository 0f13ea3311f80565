-- The audit append (DESIGN.md §6) as one function call, so each append is one short statement
-- whose plan PL/pgSQL caches per connection (the CTE form cost ~2 ms of parse and plan per append
-- on PGlite). Inside, the UPDATE takes the head row's lock and reads its newest values — after any
-- concurrent append committed — so indexes are contiguous and commit order is index order; the
-- chain is computed here, in SQL, from the locked head's chain:
--   chain_i = SHA-256(chain_{i-1} || SHA-256(0x00 || leaf_i)).
-- leaves: JSON array of the leaf texts (UTF-8); inputs: JSON array of [digest hex, base64 blob].
-- keyward_audit_chain (0004) is kept: a node still running the previous release appends with it
-- until it is upgraded, and keeps producing a correct chain.
CREATE FUNCTION keyward_audit_append(leaves jsonb, inputs jsonb) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  n bigint := jsonb_array_length(leaves);
  start bigint;
  prev bytea;
  first_prev bytea;
  leaf bytea;
  i bigint := 0;
  idxs bigint[] := '{}';
  bodies bytea[] := '{}';
  chains bytea[] := '{}';
BEGIN
  IF n = 0 THEN
    RAISE EXCEPTION 'keyward_audit_append: expected at least one leaf';
  END IF;
  UPDATE audit_head SET size = size + n WHERE id = 1 RETURNING size - n, chain INTO start, prev;
  IF start IS NULL THEN
    RAISE EXCEPTION 'keyward_audit_append: the audit_head row is missing';
  END IF;
  first_prev := prev;
  FOR leaf IN SELECT convert_to(t.v, 'UTF8') FROM jsonb_array_elements_text(leaves) WITH ORDINALITY AS t(v, ord) ORDER BY t.ord LOOP
    prev := sha256(prev || sha256('\x00'::bytea || leaf));
    idxs := idxs || (start + i);
    bodies := bodies || leaf;
    chains := chains || prev;
    i := i + 1;
  END LOOP;
  INSERT INTO audit_records (idx, leaf, chain) SELECT * FROM unnest(idxs, bodies, chains);
  UPDATE audit_head SET chain = prev, prev_chain = first_prev WHERE id = 1;
  IF jsonb_array_length(inputs) > 0 THEN
    INSERT INTO audit_inputs (digest, blob)
    SELECT e->>0, decode(e->>1, 'base64') FROM jsonb_array_elements(inputs) AS e
    ON CONFLICT (digest) DO NOTHING;
  END IF;
  RETURN start;
END
$$;
