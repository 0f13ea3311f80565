ALTER TABLE "approvals" ADD COLUMN "execution_deadline" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "approvals" ADD COLUMN "execution_audit_from" bigint;--> statement-breakpoint
CREATE INDEX "approvals_executing_deadline" ON "approvals" USING btree ("execution_deadline") WHERE "approvals"."state" = 'executing';