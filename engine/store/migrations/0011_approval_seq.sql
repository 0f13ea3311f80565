-- Approvals get their commit order (engine/store/approval-repos.ts insertApproval), which list cursors page by. Existing rows are numbered in id order, the order their cursors paged in until now.
ALTER TABLE "approvals" ADD COLUMN "seq" bigint;--> statement-breakpoint
UPDATE "approvals" SET "seq" = o.n FROM (SELECT "id", row_number() OVER (ORDER BY "id" COLLATE "C") AS n FROM "approvals") o WHERE "approvals"."id" = o."id";--> statement-breakpoint
ALTER TABLE "approvals" ALTER COLUMN "seq" SET NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "approvals_seq" ON "approvals" USING btree ("seq");--> statement-breakpoint
CREATE INDEX "approvals_state_seq" ON "approvals" USING btree ("state","seq");;--> statement-breakpoint
-- A node of the release before this one inserts without "seq" during a rolling upgrade: it gets its number here, under the same transaction-scoped lock as insertApproval's (0x4b574150, "KWAP"), so it also commits in order.
CREATE FUNCTION keyward_approval_seq() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."seq" IS NULL THEN
    PERFORM pg_advisory_xact_lock(1264009552);
    SELECT coalesce(max("seq"), 0) + 1 INTO NEW."seq" FROM "approvals";
  END IF;
  RETURN NEW;
END
$$;--> statement-breakpoint
CREATE TRIGGER "approvals_seq_default" BEFORE INSERT ON "approvals" FOR EACH ROW EXECUTE FUNCTION keyward_approval_seq();
