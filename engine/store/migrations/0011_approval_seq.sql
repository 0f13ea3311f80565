-- Approvals get their commit order (engine/store/approval-repos.ts insertApproval), which list cursors page by. Existing rows are numbered in id order, the order their cursors paged in until now.
ALTER TABLE "approvals" ADD COLUMN "seq" bigint;--> statement-breakpoint
UPDATE "approvals" SET "seq" = o.n FROM (SELECT "id", row_number() OVER (ORDER BY "id" COLLATE "C") AS n FROM "approvals") o WHERE "approvals"."id" = o."id";--> statement-breakpoint
ALTER TABLE "approvals" ALTER COLUMN "seq" SET NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "approvals_seq" ON "approvals" USING btree ("seq");--> statement-breakpoint
CREATE INDEX "approvals_state_seq" ON "approvals" USING btree ("state","seq");
