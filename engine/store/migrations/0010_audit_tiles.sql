-- The integrated tree's hashes move from one audit_nodes row per perfect node (about two rows per
-- record) to C2SP tlog-tiles' layout: one audit_tiles row per 256 hashes of tree levels 0, 8, 16, …
-- (docs/architecture.md, "The audit log"). The levels in between are folded from a tile when a proof
-- needs them. Held while this runs: the tree row, so an integrator of an earlier release waits, then
-- fails on the dropped audit_nodes and writes nothing (its transaction rolls back; a node of this
-- release integrates).
SELECT size FROM audit_tree WHERE id = 1 FOR UPDATE;
--> statement-breakpoint
CREATE TABLE "audit_tiles" (
	"level" integer NOT NULL,
	"idx" bigint NOT NULL,
	"hashes" "bytea" NOT NULL,
	CONSTRAINT "audit_tiles_level_idx_pk" PRIMARY KEY("level","idx")
);
--> statement-breakpoint
-- Hashes don't compress: stored out of line as they are.
ALTER TABLE "audit_tiles" ALTER COLUMN "hashes" SET STORAGE EXTERNAL;
--> statement-breakpoint
-- Each tile from its nodes, in index order. A tile is only built from the nodes 0, 1, …, w - 1 of its
-- range all present with 32 bytes: a missing or malformed node would shift every hash after it, so
-- such a tile is left out, and a proof that needs it stops with AUDIT_LOG_CORRUPT; when it is the
-- last, partial tile of its level, so does every integrator round (before, a missing node only failed
-- the proofs that needed that node). Only nodes inside the integrated tree are taken.
INSERT INTO "audit_tiles" ("level", "idx", "hashes")
SELECT n.level / 8, n.idx / 256, string_agg(n.hash, ''::bytea ORDER BY n.idx)
FROM "audit_nodes" n, "audit_tree" t
WHERE t.id = 1 AND n.level % 8 = 0 AND length(n.hash) = 32 AND n.level < 62
  AND (n.idx + 1) * (1::bigint << n.level) <= t.size
GROUP BY n.level / 8, n.idx / 256
HAVING count(*) = max(n.idx % 256) + 1;
--> statement-breakpoint
DROP TABLE "audit_nodes" CASCADE;
